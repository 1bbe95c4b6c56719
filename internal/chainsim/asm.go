package chainsim

import (
	"fmt"

	"github.com/ethereum/go-ethereum/core/vm"
)

// asm is a tiny EVM assembler: opcodes, the shortest push of a constant, and named labels
// that are jump destinations. It exists so that the emitter's bytecode is written as readable
// instructions instead of an opaque hex string. A label reference is always a PUSH2, which
// bounds the code at 64 KiB, far more than the emitter needs.
type asm struct {
	code   []byte
	labels map[string]int // label → offset of its JUMPDEST
	refs   []labelRef     // PUSH2 operands to patch once every label is known
	err    error          // the first mistake; reported by assemble
}

type labelRef struct {
	at    int // offset of the two operand bytes
	label string
}

func newAsm() *asm { return &asm{labels: map[string]int{}} }

// op appends opcodes without operands.
func (a *asm) op(ops ...vm.OpCode) *asm {
	for _, o := range ops {
		if o.IsPush() && o != vm.PUSH0 {
			a.fail(fmt.Errorf("asm: %s needs an operand: use push", o))
		}
		a.code = append(a.code, byte(o))
	}
	return a
}

// push appends the shortest push of v (PUSH0 for zero).
func (a *asm) push(v uint64) *asm {
	if v == 0 {
		a.code = append(a.code, byte(vm.PUSH0))
		return a
	}
	var b []byte
	for x := v; x > 0; x >>= 8 {
		b = append([]byte{byte(x)}, b...)
	}
	a.code = append(a.code, byte(vm.PUSH1)+byte(len(b)-1))
	a.code = append(a.code, b...)
	return a
}

// pushLabel appends a PUSH2 of a label's offset, patched by assemble.
func (a *asm) pushLabel(name string) *asm {
	a.code = append(a.code, byte(vm.PUSH2))
	a.refs = append(a.refs, labelRef{at: len(a.code), label: name})
	a.code = append(a.code, 0, 0)
	return a
}

// jump appends an unconditional jump to a label.
func (a *asm) jump(name string) *asm { return a.pushLabel(name).op(vm.JUMP) }

// jumpIf appends a jump to a label taken when the top of the stack is non-zero (popped).
func (a *asm) jumpIf(name string) *asm { return a.pushLabel(name).op(vm.JUMPI) }

// label places a named JUMPDEST at the current offset.
func (a *asm) label(name string) *asm {
	if _, dup := a.labels[name]; dup {
		a.fail(fmt.Errorf("asm: label %q defined twice", name))
	}
	a.labels[name] = len(a.code)
	a.code = append(a.code, byte(vm.JUMPDEST))
	return a
}

func (a *asm) fail(err error) {
	if a.err == nil {
		a.err = err
	}
}

// assemble patches the label references and returns the bytecode.
func (a *asm) assemble() ([]byte, error) {
	if a.err != nil {
		return nil, a.err
	}
	if len(a.code) > 0xFFFF {
		return nil, fmt.Errorf("asm: %d bytes of code do not fit PUSH2 jump targets", len(a.code))
	}
	out := append([]byte(nil), a.code...)
	for _, r := range a.refs {
		at, ok := a.labels[r.label]
		if !ok {
			return nil, fmt.Errorf("asm: undefined label %q", r.label)
		}
		out[r.at], out[r.at+1] = byte(at>>8), byte(at)
	}
	return out, nil
}
