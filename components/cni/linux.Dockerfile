# azure-cni Linux image
# COPY-only: the pinned toolchain compiles the binaries before the image build; bin/ holds them.
ARG BASE_IMAGE=scratch
ARG ARCH
ARG OS
ARG PLATFORM
ARG VERSION
FROM ${BASE_IMAGE} AS linux
ARG VERSION
COPY bin/dropgz /dropgz
ENTRYPOINT ["/dropgz"]
