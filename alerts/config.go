package alerts

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Webhook formats: the body a webhook receives.
const (
	FormatGeneric   = "generic"
	FormatSlack     = "slack"
	FormatPagerDuty = "pagerduty"
)

// Config is the [alerts] section: where alerts go and how hard the leader tries. Zero fields are
// not defaults: start from DefaultConfig.
type Config struct {
	// MinBackoff and MaxBackoff bound the wait between two attempts at one webhook: it doubles
	// from MinBackoff up to MaxBackoff, each wait drawn at random in its upper half. A
	// Retry-After a receiver sends is honoured up to MaxBackoff.
	MinBackoff time.Duration `toml:"min_backoff"`
	MaxBackoff time.Duration `toml:"max_backoff"`
	// AttemptTimeout bounds one HTTP attempt (connect, send, response headers and body).
	AttemptTimeout time.Duration `toml:"attempt_timeout"`
	// PollInterval is how often the leader looks at the outbox when nothing told it of a new
	// alert.
	PollInterval time.Duration `toml:"poll_interval"`
	// PageSize is how many alerts a webhook's worker reads from the outbox at a time: the
	// memory a backlog costs, however long a receiver is down.
	PageSize int `toml:"page_size"`
	// MaxAge: an alert older than this when its turn comes is not sent to that webhook but
	// marked failed ("expired"), so that a webhook added to the file does not receive the
	// whole retained history, and a receiver back after a day gets no stale page.
	MaxAge time.Duration `toml:"max_age"`
	// Webhooks are the receivers; none means alerts are only listed (GET /v1/alerts).
	Webhooks []Webhook `toml:"webhooks"`
}

// Webhook is one receiver ([[alerts.webhooks]]).
type Webhook struct {
	// Name identifies the webhook in the replicated delivery state, GET /v1/alerts and the
	// metrics (its URL may hold a credential, as Slack's do). Renaming a webhook makes it a new
	// one: it gets every retained alert younger than alerts.max_age again.
	Name string `toml:"name"`
	// URL is where alerts are POSTed: http or https.
	URL string `toml:"url"`
	// Secret signs each body: X-Paimon-Signature: sha256=<hex HMAC-SHA256 of the raw body>.
	// Required for the generic format (the receiver has nothing else to trust); optional for
	// Slack and PagerDuty, which do not check it.
	Secret string `toml:"secret"`
	// RoutingKey is the PagerDuty Events v2 integration key; required for, and only for, the
	// pagerduty format. It is not the signing secret: PagerDuty does not verify signatures,
	// and the two are rotated independently.
	RoutingKey string `toml:"routing_key"`
	// MinSeverity is the least severe alert sent (INFO, WARNING, HIGH, CRITICAL;
	// case-insensitive; empty means WARNING).
	MinSeverity string `toml:"min_severity"`
	// Format is the body: generic (default when empty), slack or pagerduty.
	Format string `toml:"format"`
}

// DefaultConfig returns the defaults documented in config.example.toml.
func DefaultConfig() Config {
	return Config{
		MinBackoff:     time.Second,
		MaxBackoff:     time.Minute,
		AttemptTimeout: 10 * time.Second,
		PollInterval:   time.Second,
		PageSize:       100,
		MaxAge:         24 * time.Hour,
		Webhooks:       []Webhook{},
	}
}

var webhookNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate checks the configuration; it fills nothing, and each problem names its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("alerts.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.MinBackoff <= 0 || c.MinBackoff > time.Hour {
		bad("min_backoff", "%s must be positive and at most 1h", c.MinBackoff)
	}
	if c.MaxBackoff < c.MinBackoff || c.MaxBackoff > 24*time.Hour {
		bad("max_backoff", "%s must be at least alerts.min_backoff and at most 24h", c.MaxBackoff)
	}
	if c.AttemptTimeout <= 0 || c.AttemptTimeout > 5*time.Minute {
		bad("attempt_timeout", "%s must be positive and at most 5m", c.AttemptTimeout)
	}
	if c.PollInterval <= 0 || c.PollInterval > time.Hour {
		bad("poll_interval", "%s must be positive and at most 1h", c.PollInterval)
	}
	if c.PageSize < 1 || c.PageSize > 10000 {
		bad("page_size", "%d must be between 1 and 10000", c.PageSize)
	}
	if c.MaxAge < time.Minute {
		bad("max_age", "%s must be at least 1m", c.MaxAge)
	}
	names := map[string]bool{}
	for i, w := range c.Webhooks {
		key := fmt.Sprintf("webhooks[%d]", i)
		if !webhookNameRe.MatchString(w.Name) {
			bad(key+".name", "%q must be 1-64 letters, digits, '.', '_' or '-'", w.Name)
		} else if names[w.Name] {
			bad(key+".name", "%q is listed twice", w.Name)
		}
		names[w.Name] = true
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(key+".url", "must be an http:// or https:// URL with a host")
		}
		format := w.Format
		if format == "" {
			format = FormatGeneric
		}
		switch format {
		case FormatGeneric:
			if w.Secret == "" {
				bad(key+".secret", "must be set for the generic format: it signs each body")
			}
		case FormatSlack:
		case FormatPagerDuty:
			if w.RoutingKey == "" {
				bad(key+".routing_key", "must be set for the pagerduty format (the Events v2 integration key)")
			}
		default:
			bad(key+".format", "%q must be generic, slack or pagerduty", w.Format)
		}
		if w.RoutingKey != "" && format != FormatPagerDuty {
			bad(key+".routing_key", "is only used by the pagerduty format")
		}
		if w.Secret != "" && len(w.Secret) < 16 {
			bad(key+".secret", "must be at least 16 characters")
		}
		if w.MinSeverity != "" {
			if _, ok := ParseSeverity(w.MinSeverity); !ok {
				bad(key+".min_severity", "%q must be INFO, WARNING, HIGH or CRITICAL", w.MinSeverity)
			}
		}
	}
	return errors.Join(errs...)
}

// minSeverity is the webhook's threshold, WARNING when unset.
func (w *Webhook) minSeverity() Severity {
	if s, ok := ParseSeverity(w.MinSeverity); ok {
		return s
	}
	return SeverityWarning
}

// format is the webhook's body format, generic when unset.
func (w *Webhook) format() string {
	if w.Format == "" {
		return FormatGeneric
	}
	return w.Format
}
