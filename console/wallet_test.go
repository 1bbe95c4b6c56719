package console_test

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// walletShim is the EIP-1193 provider the page gets as window.ethereum: each request goes to
// the Go side through a binding, which signs with the test's key and answers through
// window.__walletReply. It is injected by the test only.
const walletShim = `(() => {
  let n = 0;
  const waiting = new Map();
  window.__walletReply = (id, result, error) => {
    const w = waiting.get(id);
    waiting.delete(id);
    if (error) w.reject(Object.assign(new Error(error.message), { code: error.code }));
    else w.resolve(result);
  };
  window.ethereum = {
    isPaimonTestWallet: true,
    request({ method, params }) {
      return new Promise((resolve, reject) => {
        const id = ++n;
        waiting.set(id, { resolve, reject });
        paimonWallet(JSON.stringify({ id, method, params: params || [] }));
      });
    },
    on() {}, removeListener() {},
  };
})();`

// wallet answers the shim's requests with one key at a time (switch with use).
type wallet struct {
	chainID uint64
	ctx     context.Context
	mu      sync.Mutex
	key     *ecdsa.PrivateKey
	signed  map[string]int // method → requests signed
}

func (w *wallet) use(k *ecdsa.PrivateKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.key = k
}

func (w *wallet) count(method string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.signed[method]
}

// listener is the browser context's event listener (chromedp.WithListener): it hands the
// shim's requests to serve, off the tab's reading goroutine. ctx is set by install.
func (w *wallet) listener(ev any) {
	if b, ok := ev.(*runtime.EventBindingCalled); ok && b.Name == "paimonWallet" {
		go w.serve(w.ctx, b.Payload)
	}
}

// install adds the binding and the shim to every document of the browser context ctx.
func (w *wallet) install(ctx context.Context) error {
	w.ctx, w.signed = ctx, map[string]int{}
	return chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, runtime.AddBinding, runtime.AddBindingParams{Name: "paimonWallet"}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: walletShim})
		return err
	}))
}

func (w *wallet) serve(ctx context.Context, payload string) {
	var req struct {
		ID     int               `json:"id"`
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal([]byte(payload), &req); err != nil {
		return
	}
	result, err := w.answer(req.Method, req.Params)
	res, _ := json.Marshal(result)
	errJSON := "null"
	if err != nil {
		b, _ := json.Marshal(map[string]any{"code": 4001, "message": err.Error()})
		errJSON, res = string(b), []byte("null")
	}
	_, _ = chromedp.Run(ctx, chromedp.Evaluate[any](fmt.Sprintf("window.__walletReply(%d, %s, %s)", req.ID, res, errJSON)))
}

func (w *wallet) answer(method string, params []json.RawMessage) (any, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	addr := strings.ToLower(crypto.PubkeyToAddress(w.key.PublicKey).Hex())
	str := func(i int) (string, error) {
		var s string
		if i >= len(params) {
			return "", fmt.Errorf("%s: missing parameter %d", method, i)
		}
		return s, json.Unmarshal(params[i], &s)
	}
	sign := func(hash []byte) (string, error) {
		sig, err := crypto.Sign(hash, w.key)
		if err != nil {
			return "", err
		}
		sig[64] += 27
		w.signed[method]++
		return hexutil.Encode(sig), nil
	}
	switch method {
	case "eth_requestAccounts", "eth_accounts":
		return []string{addr}, nil
	case "eth_chainId":
		return hexutil.EncodeUint64(w.chainID), nil
	case "personal_sign":
		data, err := str(0)
		if err != nil {
			return nil, err
		}
		if who, _ := str(1); strings.ToLower(who) != addr {
			return nil, fmt.Errorf("personal_sign for %s, the account is %s", who, addr)
		}
		msg, err := hexutil.Decode(data)
		if err != nil {
			return nil, fmt.Errorf("personal_sign: data %q: %w", data, err)
		}
		return sign(accounts.TextHash(msg))
	case "eth_signTypedData_v4":
		who, err := str(0)
		if err != nil {
			return nil, err
		}
		if strings.ToLower(who) != addr {
			return nil, fmt.Errorf("eth_signTypedData_v4 for %s, the account is %s", who, addr)
		}
		js, err := str(1)
		if err != nil {
			return nil, err
		}
		var td apitypes.TypedData
		if err := json.Unmarshal([]byte(js), &td); err != nil {
			return nil, fmt.Errorf("typed data: %w", err)
		}
		hash, _, err := apitypes.TypedDataAndHash(td)
		if err != nil {
			return nil, fmt.Errorf("typed data: %w", err)
		}
		return sign(hash)
	}
	return nil, errors.New("unsupported method " + method)
}
