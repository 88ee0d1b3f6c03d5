module github.com/acn-monorepo/acn

go 1.26
