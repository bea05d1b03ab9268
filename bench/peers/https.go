// The Go peer of bench/io/https.sh: the "hello" HTTP server of examples/https_hello.cpp over
// TLS, one goroutine per connection, on one OS thread running Go code (GOMAXPROCS=1),
// standard library only so that it builds offline.
//
//	xcoro-go-https -port N -cert CHAIN.pem -key KEY.pem            crypto/tls, with the same
//	                                       request scan as https_hello (the same work)
//	xcoro-go-https -port N -cert CHAIN.pem -key KEY.pem -nethttp   net/http's server
//
// Both offer ALPN http/1.1 only, as https_hello does (no HTTP/2). It prints
// "listening" once the port is open.
package main

import (
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
)

var response = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" +
	"Content-Length: 6\r\n\r\nhello\n")

// hello scans requests for their end only ("\r\n\r\n"), as examples/https_hello.cpp does.
func hello(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 8192)
	have := 0
	sep := []byte("\r\n\r\n")
	for {
		n, err := c.Read(buf[have:])
		if err != nil {
			return
		}
		have += n
		consumed := 0
		for {
			end := bytes.Index(buf[consumed:have], sep)
			if end < 0 {
				break
			}
			if _, err := c.Write(response); err != nil {
				return
			}
			consumed += end + 4
		}
		copy(buf, buf[consumed:have])
		have -= consumed
		if have == len(buf) {
			return
		}
	}
}

func main() {
	port := flag.Int("port", 0, "port on 127.0.0.1")
	cert := flag.String("cert", "", "certificate chain (PEM)")
	key := flag.String("key", "", "private key (PEM)")
	nethttp := flag.Bool("nethttp", false, "serve with net/http instead of the request scan")
	flag.Parse()
	runtime.GOMAXPROCS(1)
	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		fmt.Fprintln(os.Stderr, "xcoro-go-https:", err)
		os.Exit(2)
	}
	config := &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"http/1.1"},
		MinVersion: tls.VersionTLS12}
	ln, err := tls.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port), config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "xcoro-go-https:", err)
		os.Exit(3)
	}
	fmt.Println("listening")
	if *nethttp {
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", "6")
			w.Write([]byte("hello\n"))
		})
		server := &http.Server{Handler: handler}
		fmt.Fprintln(os.Stderr, server.Serve(ln))
		os.Exit(4)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go hello(c)
	}
}
