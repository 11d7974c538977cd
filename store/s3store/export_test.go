package s3store

import "net/http"

// SetTransport lets a test damage requests on their way to the server.
func SetTransport(o *Options, rt http.RoundTripper) { o.transport = rt }
