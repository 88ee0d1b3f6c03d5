# ipv6-hp-bpf Linux image
# COPY-only: the pinned toolchain compiles the binaries before the image build; bin/ holds them.
ARG BASE_IMAGE=scratch
ARG ARCH
ARG OS
ARG PLATFORM
ARG VERSION
FROM ${BASE_IMAGE} AS linux
ARG VERSION
ARG DEBUG=false
COPY bin/ipv6-hp-bpf /ipv6-hp-bpf
CMD ["/ipv6-hp-bpf"]
