package push

import (
	"fmt"
	"time"
)

// Config configures a Hub. Zero fields are not defaults: start from DefaultConfig.
type Config struct {
	// WindowMessages is how many recent messages each channel keeps for resume (`since`); the
	// account channels share one window of this size.
	WindowMessages int
	// WindowAge is how long a message is kept for resume at most.
	WindowAge time.Duration
	// QueueMessages bounds each connection's queue of live messages not yet written (a
	// command's messages on one channel count as one; the frames queued are bounded by four
	// times this): a client that lets it fill is disconnected as a slow consumer. A command
	// with more than four times this many messages on one channel is not streamed: its
	// subscribers get a reset.
	QueueMessages int
	// WriteTimeout bounds one write to a client; a client that does not read within it is
	// disconnected.
	WriteTimeout time.Duration
	// MaxFrameBytes is the largest client frame answered with something other than an error
	// frame; a frame over 64 times this (at least 1 MiB) closes the connection (1009).
	MaxFrameBytes int
	// FramesPerSecond and FrameBurst rate-limit each connection's client frames; excess frames
	// get a RATE_LIMITED error frame and are otherwise ignored.
	FramesPerSecond float64
	FrameBurst      int
	// SendBufferBytes, when positive, sets each client socket's kernel send buffer (SO_SNDBUF),
	// bounding what a stalled client holds in the kernel before its queue and write timeout
	// notice; 0 leaves the operating system's autotuning.
	SendBufferBytes int
	// MaxSubscriptions bounds the channels one connection is subscribed to.
	MaxSubscriptions int
	// MaxConns bounds the node's WebSocket connections; MaxConnsPerIP those from one address.
	MaxConns      int
	MaxConnsPerIP int
	// AllowedOrigins, when not empty, are the Origin header values accepted from browsers
	// ("*" accepts any); a request without Origin (not a browser) is always accepted.
	AllowedOrigins []string
	// PingInterval is how often the node pings each client; a client that sends nothing (not
	// even a pong) for PingInterval+PongTimeout is dropped as dead.
	PingInterval time.Duration
	PongTimeout  time.Duration
	// Linger keeps a connection's writer goroutine waiting for more messages this long after
	// its queue empties, so that a steady stream does not start one goroutine per message,
	// while an idle connection holds none.
	Linger time.Duration
	// MaxPendingBatches bounds the applied batches waiting for the hub: past it the hub drops
	// them and resets every subscriber, rather than slowing apply or growing without bound.
	MaxPendingBatches int
}

// DefaultConfig returns the defaults documented in config.example.toml.
func DefaultConfig() Config {
	return Config{
		WindowMessages:    4096,
		WindowAge:         10 * time.Minute,
		QueueMessages:     1024,
		WriteTimeout:      5 * time.Second,
		MaxFrameBytes:     4096,
		FramesPerSecond:   50,
		FrameBurst:        100,
		MaxSubscriptions:  64,
		MaxConns:          100000,
		MaxConnsPerIP:     256,
		PingInterval:      30 * time.Second,
		PongTimeout:       15 * time.Second,
		Linger:            2 * time.Second,
		MaxPendingBatches: 100000,
	}
}

// Validate checks the configuration, naming the [push] key at fault.
func (c Config) Validate() error {
	pos := func(name string, v int) error {
		if v < 1 {
			return fmt.Errorf("push.%s must be at least 1, got %d", name, v)
		}
		return nil
	}
	dur := func(name string, d time.Duration) error {
		if d <= 0 {
			return fmt.Errorf("push.%s must be positive, got %s", name, d)
		}
		return nil
	}
	for _, err := range []error{
		pos("window_messages", c.WindowMessages), dur("window_age", c.WindowAge),
		pos("queue_messages", c.QueueMessages), dur("write_timeout", c.WriteTimeout),
		pos("max_frame_bytes", c.MaxFrameBytes), pos("frame_burst", c.FrameBurst),
		pos("max_subscriptions", c.MaxSubscriptions), pos("max_conns", c.MaxConns),
		pos("max_conns_per_ip", c.MaxConnsPerIP), dur("ping_interval", c.PingInterval),
		dur("pong_timeout", c.PongTimeout), dur("linger", c.Linger), pos("max_pending_batches", c.MaxPendingBatches),
	} {
		if err != nil {
			return err
		}
	}
	if c.SendBufferBytes < 0 {
		return fmt.Errorf("push.send_buffer_bytes must not be negative, got %d", c.SendBufferBytes)
	}
	if c.FramesPerSecond <= 0 {
		return fmt.Errorf("push.frames_per_second must be positive, got %g", c.FramesPerSecond)
	}
	if c.MaxFrameBytes > 1<<20 {
		return fmt.Errorf("push.max_frame_bytes must be at most 1 MiB, got %d", c.MaxFrameBytes)
	}
	if c.MaxConnsPerIP > c.MaxConns {
		return fmt.Errorf("push.max_conns_per_ip (%d) must not exceed push.max_conns (%d)", c.MaxConnsPerIP, c.MaxConns)
	}
	for _, o := range c.AllowedOrigins {
		if o == "" {
			return fmt.Errorf("push.allowed_origins: empty origin")
		}
	}
	return nil
}
