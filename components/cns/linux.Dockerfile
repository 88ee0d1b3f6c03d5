# azure-cns Linux image
# COPY-only: the pinned toolchain compiles the binaries before the image build; bin/ holds them.
ARG BASE_IMAGE=scratch
ARG ARCH
ARG OS
ARG PLATFORM
ARG VERSION
FROM ${BASE_IMAGE} AS linux
ARG VERSION
COPY bin/azure-cns /usr/local/bin/azure-cns
EXPOSE 10090
ENTRYPOINT ["/usr/local/bin/azure-cns"]
