module github.com/acn-monorepo/acn/tools/dropgz

go 1.26
