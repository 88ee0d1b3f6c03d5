"""Go: the pinned toolchain, hermetic compiles, the dropgz installer, and the actions that produce binaries."""
