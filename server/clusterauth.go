package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Requests between nodes (forwarded requests, joins, notifications) carry
//
//	X-Paimon-Cluster: <node id> <unix seconds> <hex HMAC-SHA256>
//
// keyed by the cluster secret over the node id, the time, the method, the request URI and the
// SHA-256 of the body. A receiver accepts it within clusterAuthSkew of its own clock. Operators
// may instead present the secret itself as a bearer token on the cluster endpoints.
const (
	hdrCluster      = "X-Paimon-Cluster"
	hdrClientIP     = "X-Paimon-Client-Ip"
	clusterAuthSkew = 60 * time.Second
)

func clusterMAC(secret []byte, nodeID, ts string, method, uri, body []byte) string {
	bodySum := sha256.Sum256(body)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(nodeID))
	m.Write([]byte{'\n'})
	m.Write([]byte(ts))
	m.Write([]byte{'\n'})
	m.Write(method)
	m.Write([]byte{'\n'})
	m.Write(uri)
	m.Write([]byte{'\n'})
	m.Write(bodySum[:])
	return hex.EncodeToString(m.Sum(nil))
}

// signCluster adds the cluster header to a request this node sends to another.
func (s *Server) signCluster(req *fasthttp.Request) {
	ts := strconv.FormatInt(s.now().Unix(), 10)
	// The receiver sees the path and query only, not the scheme and host the client dials.
	mac := clusterMAC(s.cfg.ClusterSecret, s.cfg.NodeID, ts, req.Header.Method(), req.URI().RequestURI(), req.Body())
	req.Header.Set(hdrCluster, s.cfg.NodeID+" "+ts+" "+mac)
}

// clusterPeer returns the id of the member that signed the request, or "" when the request
// carries no valid cluster header. Without a configured secret nothing is a cluster request.
func (s *Server) clusterPeer(ctx *fasthttp.RequestCtx) string {
	h := ctx.Request.Header.Peek(hdrCluster)
	if len(h) == 0 || len(s.cfg.ClusterSecret) == 0 {
		return ""
	}
	parts := strings.Fields(string(h))
	if len(parts) != 3 {
		return ""
	}
	ts, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return ""
	}
	if d := s.now().Sub(time.Unix(ts, 0)); d > clusterAuthSkew || d < -clusterAuthSkew {
		return ""
	}
	want := clusterMAC(s.cfg.ClusterSecret, parts[0], parts[1], ctx.Method(), ctx.RequestURI(), ctx.PostBody())
	if subtle.ConstantTimeCompare([]byte(want), []byte(parts[2])) != 1 {
		return ""
	}
	return parts[0]
}

// isClusterSecret reports whether tok is the cluster secret (for operators on the cluster
// endpoints).
func (s *Server) isClusterSecret(tok []byte) bool {
	return len(s.cfg.ClusterSecret) > 0 && subtle.ConstantTimeCompare(tok, s.cfg.ClusterSecret) == 1
}
