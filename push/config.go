package push

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config is the [push] section: the WebSocket push layer (GET /v1/ws). Zero fields are not
// defaults: start from DefaultConfig. Linger and MaxPendingBatches are not keys of the file.
type Config struct {
	// Enabled serves GET /v1/ws; without it the node builds no hub.
	Enabled bool `toml:"enabled"`
	// WindowMessages is how many recent messages each channel keeps for resume (`since`); the
	// account channels share one window of this size.
	WindowMessages int `toml:"window_messages"`
	// WindowAge is how long a message is kept for resume at most.
	WindowAge time.Duration `toml:"window_age"`
	// QueueMessages bounds each connection's queue of live messages not yet written (a
	// command's messages on one channel count as one; the frames queued are bounded by four
	// times this): a client that lets it fill is disconnected as a slow consumer. A command
	// with more than four times this many messages on one channel is not streamed: its
	// subscribers get a reset.
	QueueMessages int `toml:"queue_messages"`
	// WriteTimeout bounds one write to a client; a client that does not read within it is
	// disconnected.
	WriteTimeout time.Duration `toml:"write_timeout"`
	// MaxFrameBytes is the largest client frame answered with something other than an error
	// frame; a frame over 64 times this (at least 1 MiB) closes the connection (1009).
	MaxFrameBytes int `toml:"max_frame_bytes"`
	// FramesPerSecond and FrameBurst rate-limit each connection's client frames; excess frames
	// get a RATE_LIMITED error frame and are otherwise ignored.
	FramesPerSecond float64 `toml:"frames_per_second"`
	FrameBurst      int     `toml:"frame_burst"`
	// SendBufferBytes, when positive, sets each client socket's kernel send buffer (SO_SNDBUF),
	// bounding what a stalled client holds in the kernel before its queue and write timeout
	// notice; 0 leaves the operating system's autotuning.
	SendBufferBytes int `toml:"send_buffer_bytes"`
	// MaxSubscriptions bounds the channels one connection is subscribed to.
	MaxSubscriptions int `toml:"max_subscriptions"`
	// MaxConns bounds the node's WebSocket connections; MaxConnsPerIP those from one address.
	MaxConns      int `toml:"max_conns"`
	MaxConnsPerIP int `toml:"max_conns_per_ip"`
	// AllowedOrigins, when not empty, are the Origin header values accepted from browsers
	// ("*" accepts any); a request without Origin (not a browser) is always accepted.
	AllowedOrigins []string `toml:"allowed_origins"`
	// PingInterval is how often the node pings each client; a client that sends nothing (not
	// even a pong) for PingInterval+PongTimeout is dropped as dead.
	PingInterval time.Duration `toml:"ping_interval"`
	PongTimeout  time.Duration `toml:"pong_timeout"`
	// Linger keeps a connection's writer goroutine waiting for more messages this long after
	// its queue empties, so that a steady stream does not start one goroutine per message,
	// while an idle connection holds none.
	Linger time.Duration `toml:"-"`
	// MaxPendingBatches bounds the applied batches waiting for the hub: past it the hub drops
	// them and resets every subscriber, rather than slowing apply or growing without bound.
	MaxPendingBatches int `toml:"-"`
}

// DefaultConfig returns the defaults documented in config.example.toml.
func DefaultConfig() Config {
	return Config{
		Enabled:           true,
		AllowedOrigins:    []string{},
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

// Validate checks the configuration and reports every problem; each error names the [push]
// key at fault.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("push.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	for _, v := range []struct {
		key string
		n   int
	}{{"window_messages", c.WindowMessages}, {"queue_messages", c.QueueMessages}, {"frame_burst", c.FrameBurst},
		{"max_subscriptions", c.MaxSubscriptions}, {"max_conns", c.MaxConns}, {"max_conns_per_ip", c.MaxConnsPerIP},
		{"max_pending_batches", c.MaxPendingBatches}} {
		if v.n < 1 {
			bad(v.key, "%d must be at least 1", v.n)
		}
	}
	for _, d := range []struct {
		key string
		d   time.Duration
	}{{"window_age", c.WindowAge}, {"write_timeout", c.WriteTimeout}, {"ping_interval", c.PingInterval},
		{"pong_timeout", c.PongTimeout}, {"linger", c.Linger}} {
		if d.d <= 0 {
			bad(d.key, "%s must be positive", d.d)
		}
	}
	if c.MaxFrameBytes < 256 || c.MaxFrameBytes > 1<<20 {
		bad("max_frame_bytes", "%d must be between 256 and 1048576", c.MaxFrameBytes)
	}
	if c.SendBufferBytes < 0 {
		bad("send_buffer_bytes", "%d must not be negative (0 keeps the system's default)", c.SendBufferBytes)
	}
	if !(c.FramesPerSecond > 0) {
		bad("frames_per_second", "%g must be positive", c.FramesPerSecond)
	}
	if c.MaxConnsPerIP > c.MaxConns {
		bad("max_conns_per_ip", "%d must not exceed push.max_conns %d", c.MaxConnsPerIP, c.MaxConns)
	}
	for i, o := range c.AllowedOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			bad(fmt.Sprintf("allowed_origins[%d]", i), "%q must be \"*\" or an origin such as \"https://app.example.com\"", o)
		}
	}
	return errors.Join(errs...)
}
