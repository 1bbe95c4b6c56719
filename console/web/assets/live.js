// The live feed: one WebSocket to /v1/ws for the whole console. Pages subscribe to channels;
// every event carries its Raft index (seq), which the feed remembers per channel, so that after
// a reconnect it subscribes again with since = that seq and the node replays what was missed
// (or answers reset, and the page refetches by HTTP). Nothing polls.

import { getSession, onSession } from 'c/api.js';
import { useEffect, useRef } from 'preact';

class Live {
  constructor() {
    this.handlers = new Map(); // channel -> Set of {event(data, seq), reset()}
    this.seq = new Map();      // channel -> last seq received
    this.subscribed = new Set();
    this.state = 'connecting';
    this.stateListeners = new Set();
    this.reconnectDelay = 500;
    this.resumes = [];          // {channel, since} of each resumed subscription, newest last
    this.ws = null;
    this.attempt = 0;
    onSession(() => this.reauth());
  }

  onState(fn) { this.stateListeners.add(fn); return () => this.stateListeners.delete(fn); }
  setState(s) { this.state = s; for (const fn of this.stateListeners) fn(s); }

  connect() {
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/v1/ws');
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.setState('live');
      const s = getSession();
      if (s) ws.send(JSON.stringify({ op: 'auth', token: s.token }));
      this.subscribed.clear();
      for (const ch of this.handlers.keys()) this.subscribe(ch);
    };
    ws.onmessage = (m) => this.frame(JSON.parse(m.data));
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.setState('reconnecting');
      const delay = Math.min(this.reconnectDelay * 2 ** this.attempt++, 5000);
      setTimeout(() => this.connect(), delay);
    };
  }

  // subscribe asks for one channel (a refused channel refuses its whole frame, so one a frame),
  // from the last seq received when there is one.
  subscribe(ch) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.subscribed.has(ch)) return;
    this.subscribed.add(ch);
    const f = { op: 'subscribe', channels: [ch] };
    if (this.seq.has(ch)) {
      f.since = this.seq.get(ch);
      this.resumes.push({ channel: ch, since: f.since });
    }
    this.ws.send(JSON.stringify(f));
  }

  reauth() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    // Reconnect: the new identity's channels are subscribed again (from their seq).
    this.ws.onclose = null;
    this.ws.close();
    this.attempt = 0;
    this.connect();
  }

  frame(f) {
    switch (f.type) {
      case 'event': {
        const last = this.seq.get(f.channel);
        if (last !== undefined && f.seq < last) return; // already seen (a replay overlaps)
        this.seq.set(f.channel, f.seq);
        for (const h of this.handlers.get(f.channel) || []) h.event(f.data, f.seq);
        break;
      }
      case 'subscribed':
        for (const ch of f.channels) if (!this.seq.has(ch)) this.seq.set(ch, f.seq);
        break;
      case 'reset':
        this.seq.set(f.channel, f.seq);
        for (const h of this.handlers.get(f.channel) || []) h.reset?.();
        break;
      case 'error':
        this.lastError = f; // a refused channel stays marked, so it is not asked for again
        break;
    }
  }

  // on registers a handler for a channel and returns its removal.
  on(ch, h) {
    if (!this.handlers.has(ch)) this.handlers.set(ch, new Set());
    this.handlers.get(ch).add(h);
    this.subscribe(ch);
    return () => this.handlers.get(ch)?.delete(h);
  }
}

export const live = new Live();
window.paimonLive = live; // for the browser tests and the curious
live.connect();

// useLive calls event(data, seq) for each event of channel while the component is mounted,
// and reset() when the node cannot replay what was missed.
export function useLive(channel, event, reset) {
  const ref = useRef({ event, reset });
  ref.current = { event, reset };
  useEffect(() => {
    if (!channel) return undefined;
    return live.on(channel, { event: (d, s) => ref.current.event(d, s), reset: () => ref.current.reset?.() });
  }, [channel]);
}
