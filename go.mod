module github.com/inert-go/inert

go 1.22.0

require (
	github.com/ergo-services/ergo v1.999.224
	golang.org/x/sys v0.30.0
)
