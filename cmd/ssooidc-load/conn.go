package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// conn is a minimal HTTP/1.1 keep-alive client on one TCP connection. The
// load generator shares a core with nothing but itself, and net/http's
// client costs several times what the server's fast paths cost; a request
// here is one write of pre-built bytes and one buffered read, so the
// generator is never what limits the figures. It understands exactly what
// a load test needs: Content-Length and chunked bodies, Connection: close,
// and the x-amzn-ErrorType header.
type conn struct {
	addr    string // host:port to dial
	host    string // Host header
	timeout time.Duration
	spin    bool // wait for answers with a spinReader

	c    net.Conn
	sr   *spinReader // when spin
	br   *bufio.Reader
	wbuf []byte
	body []byte
}

// response is valid until the next request on the same conn.
type response struct {
	status  int
	errType string // x-amzn-ErrorType, empty when absent
	body    []byte
}

func newConn(addr, host string, timeout time.Duration, spin bool) *conn {
	return &conn{addr: addr, host: host, timeout: timeout, spin: spin}
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

func (c *conn) dial() error {
	nc, err := net.DialTimeout("tcp", c.addr, c.timeout)
	if err != nil {
		return err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c.c = nc
	var r io.Reader = nc
	if c.spin {
		if c.sr, err = newSpinReader(nc); err != nil {
			nc.Close()
			return err
		}
		r = c.sr
	}
	if c.br == nil {
		c.br = bufio.NewReaderSize(r, 16<<10)
	} else {
		c.br.Reset(r)
	}
	return nil
}

// post sends one POST with a JSON body and reads the answer. A transport
// error closes the connection; the next call dials again.
func (c *conn) post(path string, body []byte) (response, error) {
	if c.c == nil {
		if err := c.dial(); err != nil {
			return response{}, err
		}
	}
	b := c.wbuf[:0]
	b = append(b, "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, c.host...)
	b = append(b, "\r\nUser-Agent: ssooidc-load\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	c.wbuf = b
	if c.timeout > 0 {
		deadline := time.Now().Add(c.timeout)
		c.c.SetDeadline(deadline)
		if c.sr != nil {
			c.sr.deadline = deadline
		}
	}
	if _, err := c.c.Write(b); err != nil {
		c.close()
		return response{}, err
	}
	resp, keep, err := c.read()
	if err != nil || !keep {
		c.close()
	}
	return resp, err
}

var (
	hdrContentLength    = []byte("content-length")
	hdrTransferEncoding = []byte("transfer-encoding")
	hdrConnection       = []byte("connection")
	hdrErrorType        = []byte("x-amzn-errortype")
)

// read parses one response; keep reports whether the connection may be
// reused.
func (c *conn) read() (resp response, keep bool, err error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return resp, false, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return resp, false, fmt.Errorf("bad status line %q", line)
	}
	resp.status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return resp, false, fmt.Errorf("bad status line %q", line)
	}
	keep = true
	length, chunked := -1, false
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return resp, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, hdrContentLength):
			length, err = strconv.Atoi(string(value))
			if err != nil || length < 0 {
				return resp, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, hdrTransferEncoding):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, hdrConnection):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			}
		case bytes.EqualFold(name, hdrErrorType):
			resp.errType = string(value)
		}
	}
	c.body = c.body[:0]
	switch {
	case resp.status == 204 || resp.status == 304 || resp.status/100 == 1:
	case chunked:
		if err := c.readChunked(); err != nil {
			return resp, false, err
		}
	case length >= 0:
		if cap(c.body) < length {
			c.body = make([]byte, length)
		}
		c.body = c.body[:length]
		if _, err := io.ReadFull(c.br, c.body); err != nil {
			return resp, false, err
		}
	default: // delimited by the end of the connection
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(c.br); err != nil {
			return resp, false, err
		}
		c.body = buf.Bytes()
		keep = false
	}
	resp.body = c.body
	return resp, keep, nil
}

func (c *conn) readChunked() error {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 32)
		if err != nil || n < 0 {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			// Trailers, then the final empty line.
			for {
				t, err := c.br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return nil
				}
			}
		}
		start := len(c.body)
		c.body = append(c.body, make([]byte, n)...)
		if _, err := io.ReadFull(c.br, c.body[start:]); err != nil {
			return err
		}
		crlf := make([]byte, 2)
		if _, err := io.ReadFull(c.br, crlf); err != nil {
			return err
		}
		if string(crlf) != "\r\n" {
			return errors.New("chunk not followed by CRLF")
		}
	}
}
