package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tabshard/tabshard/pipeline"
)

// linkConn carries pipeline messages over a WebRTC link: each message is
// encoded, framed by the link, and decoded (and so validated) on arrival.
// A peer that sends anything Decode refuses is cut off.
type linkConn struct {
	l   *Link
	lim pipeline.Limits
}

func newLinkConn(l *Link, lim pipeline.Limits) *linkConn { return &linkConn{l: l, lim: lim} }

func (c *linkConn) Send(m pipeline.Message) error {
	b, err := pipeline.Encode(m, c.lim)
	if err != nil {
		return err
	}
	return c.l.Send(b)
}

func (c *linkConn) Recv() (pipeline.Message, error) {
	b, err := c.l.Recv()
	if err != nil {
		return nil, err
	}
	m, err := pipeline.Decode(b, c.lim)
	if err != nil {
		c.l.Close()
		return nil, &pipeline.PeerError{Peer: c.l.Remote(), Err: err}
	}
	return m, nil
}

func (c *linkConn) Close() error { return c.l.Close() }

// errHelloRefused marks a peer that speaks another protocol version or
// serves another model: dialling it again cannot help.
var errHelloRefused = errors.New("refused")

// handshakeTimeout bounds the wait for a peer's Hello; a stage still loading
// its layers answers late, so this is generous.
const handshakeTimeout = 5 * time.Minute

// greet sends our Hello on a link we dialled and waits for the peer's.
func greet(ctx context.Context, c *linkConn, local *pipeline.Hello) (*pipeline.Hello, error) {
	if err := c.Send(local); err != nil {
		return nil, err
	}
	return awaitHello(ctx, c, local)
}

// awaitHello reads the peer's Hello and checks version and model digest.
func awaitHello(ctx context.Context, c *linkConn, local *pipeline.Hello) (*pipeline.Hello, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	b, err := c.l.RecvContext(ctx)
	if err != nil {
		return nil, err
	}
	m, err := pipeline.Decode(b, c.lim)
	var hello *pipeline.Hello
	if h, ok := m.(*pipeline.Hello); ok {
		hello = h
	}
	if hello == nil {
		if err == nil {
			err = errors.New("first message is not Hello")
		}
		c.Close()
		return nil, fmt.Errorf("node: peer %s: %w", c.l.Remote(), err)
	}
	if err := pipeline.CheckHello(local, hello); err != nil {
		_ = c.Send(&pipeline.Error{Code: pipeline.ErrCodeDigest, Text: err.Error()})
		c.Close()
		return nil, fmt.Errorf("node: peer %s: %w: %w", c.l.Remote(), errHelloRefused, err)
	}
	return hello, nil
}
