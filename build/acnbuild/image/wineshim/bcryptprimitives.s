# A stand-in bcryptprimitives.dll for Wine 8.0 (Debian 12), which lacks the DLL that the Go >= 1.22 runtime
# loads at start-up for ProcessPrng. ProcessPrng(buffer, length) fills the buffer from advapi32's
# SystemFunction036 (RtlGenRandom) and, like the real one, always returns TRUE.
    .text
    .globl DllMain
DllMain:
    movl $1, %eax
    ret

    .globl ProcessPrng
ProcessPrng:
    subq $40, %rsp                      # shadow space for the callee, stack kept 16-byte aligned
    call *__imp_SystemFunction036(%rip)
    addq $40, %rsp
    movl $1, %eax
    ret
