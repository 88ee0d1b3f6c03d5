# azure-npm Windows image (servercore ltsc2022 base); the binary is npm.exe, as upstream ships it
# COPY-only (no RUN), so it builds on a Linux host; the pinned toolchain cross-compiles bin/*.exe.
ARG BASE_IMAGE
ARG ARCH
ARG OS
ARG PLATFORM
ARG VERSION
FROM ${BASE_IMAGE} AS windows
ARG VERSION
COPY bin/azure-npm.exe /npm.exe
COPY files/examples/windows/kubeconfigtemplate.yaml /kubeconfigtemplate.yaml
COPY files/examples/windows/setkubeconfigpath.ps1 /setkubeconfigpath.ps1
CMD ["npm.exe", "start", "--kubeconfig=.\\kubeconfig"]
