# azure-cni Windows image (host-process base): plugins in System32, run through powershell
# COPY-only (no RUN), so it builds on a Linux host; the pinned toolchain cross-compiles bin/*.exe.
ARG BASE_IMAGE
ARG ARCH
ARG OS
ARG PLATFORM
ARG VERSION
FROM ${BASE_IMAGE} AS windows
ARG VERSION
COPY bin/azure-vnet.exe /Windows/System32/azure-vnet.exe
COPY bin/azure-ipam.exe /Windows/System32/azure-ipam.exe
COPY files/conflist/azure.conflist /Windows/System32/azure.conflist
ENTRYPOINT ["powershell.exe"]
