# azure-ipam Windows image (host-process base)
# COPY-only (no RUN), so it builds on a Linux host; the pinned toolchain cross-compiles bin/*.exe.
ARG BASE_IMAGE
ARG ARCH
ARG OS
ARG PLATFORM
ARG VERSION
FROM ${BASE_IMAGE} AS windows
ARG VERSION
COPY bin/dropgz.exe /dropgz.exe
ENTRYPOINT ["dropgz.exe"]
