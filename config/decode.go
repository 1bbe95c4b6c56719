package config

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// The components' configurations hold time.Duration, which go-toml would decode from a bare
// integer as nanoseconds and cannot decode from "5s". Parse and Encode therefore go through a
// mirror of Config built by reflection: the same fields and tags with every time.Duration
// replaced by Duration, whose TOML form is a string in Go syntax (and a bare integer an
// error at its line). Nothing is declared twice: the mirror follows the components' structs.

var (
	timeDurationType = reflect.TypeOf(time.Duration(0))
	durationType     = reflect.TypeOf(Duration(0))
	mirrors          sync.Map // reflect.Type -> reflect.Type
)

// mirrorOf returns t with every time.Duration inside replaced by Duration.
func mirrorOf(t reflect.Type) reflect.Type {
	if m, ok := mirrors.Load(t); ok {
		return m.(reflect.Type)
	}
	m := t
	switch {
	case t == timeDurationType:
		m = durationType
	case t.Kind() == reflect.Slice:
		if e := mirrorOf(t.Elem()); e != t.Elem() {
			m = reflect.SliceOf(e)
		}
	case t.Kind() == reflect.Struct:
		fields := make([]reflect.StructField, t.NumField())
		changed := false
		for i := range fields {
			f := t.Field(i)
			if !f.IsExported() {
				panic(fmt.Sprintf("config: %s.%s is unexported: a configuration holds exported fields only", t, f.Name))
			}
			fields[i] = reflect.StructField{Name: f.Name, Type: mirrorOf(f.Type), Tag: f.Tag}
			changed = changed || fields[i].Type != f.Type
		}
		if changed {
			m = reflect.StructOf(fields)
		}
	}
	mirrors.Store(t, m)
	return m
}

// copyMirror copies src into dst, two values of the same shape whose durations differ only by
// type (a configuration and its mirror, either way).
func copyMirror(dst, src reflect.Value) {
	if dst.Type() == src.Type() {
		dst.Set(src)
		return
	}
	switch dst.Kind() {
	case reflect.Int64: // time.Duration <-> Duration
		dst.SetInt(src.Int())
	case reflect.Slice:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		dst.Set(reflect.MakeSlice(dst.Type(), src.Len(), src.Len()))
		for i := 0; i < src.Len(); i++ {
			copyMirror(dst.Index(i), src.Index(i))
		}
	case reflect.Struct:
		for i := 0; i < dst.NumField(); i++ {
			copyMirror(dst.Field(i), src.Field(i))
		}
	default:
		panic(fmt.Sprintf("config: cannot mirror %s into %s", src.Type(), dst.Type()))
	}
}

// decode decodes a TOML document over c (unknown keys are errors).
func decode(data []byte, c *Config) error {
	v := reflect.ValueOf(c).Elem()
	m := reflect.New(mirrorOf(v.Type()))
	copyMirror(m.Elem(), v)
	// The unmarshaler interface lets Duration refuse bare integers (see Duration.UnmarshalTOML).
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields().EnableUnmarshalerInterface()
	if err := dec.Decode(m.Interface()); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) {
			keys := make([]string, 0, len(strict.Errors))
			for _, e := range strict.Errors {
				keys = append(keys, strings.Join(e.Key(), "."))
			}
			return fmt.Errorf("%w: unknown key %s", ErrInvalid, strings.Join(keys, ", "))
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return fmt.Errorf("%w: line %d column %d: %s", ErrInvalid, row, col, de.Error())
		}
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	copyMirror(v, m.Elem())
	return nil
}

// Encode writes c as a TOML document that Parse reads back as c (durations in Go syntax).
func Encode(c *Config) ([]byte, error) {
	v := reflect.ValueOf(c).Elem()
	m := reflect.New(mirrorOf(v.Type()))
	copyMirror(m.Elem(), v)
	return toml.Marshal(m.Interface())
}

// Duration is a time.Duration written in Go syntax ("200ms", "5s") in TOML.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: want Go syntax such as \"200ms\" or \"5s\"", string(b))
	}
	*d = Duration(v)
	return nil
}

// UnmarshalTOML implements go-toml's unstable.Unmarshaler, which Parse enables. Without it
// go-toml stores a bare integer straight into the int64 underneath, so `apply_timeout = 10`
// would silently mean 10ns; a duration must be a string in Go syntax. The error points at the
// value, so Parse reports its line.
func (d *Duration) UnmarshalTOML(raw []byte) error {
	if len(raw) == 0 || (raw[0] != '"' && raw[0] != '\'') {
		return unstable.NewParserError(raw, "duration %s: want a string in Go syntax such as \"200ms\" or \"5s\"", raw)
	}
	var v struct{ V string }
	if err := toml.Unmarshal(append([]byte("V = "), raw...), &v); err != nil {
		return unstable.NewParserError(raw, "duration %s: %v", raw, err)
	}
	if err := d.UnmarshalText([]byte(v.V)); err != nil {
		return unstable.NewParserError(raw, "%v", err)
	}
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// String returns the Go syntax of the duration.
func (d Duration) String() string { return time.Duration(d).String() }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
