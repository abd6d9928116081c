// The live feed (/v1/ws): public channels (book, trades, ticker) and, after the session login,
// the member's own orders and fills. A lost connection shows a banner and reconnects; every
// channel is subscribed again and answers with a fresh snapshot, and the views refetch what
// they show (``onReconnect``), so nothing is missed. A gap in a book's seq resubscribes it.
// The server sends a heartbeat every 5 s: a connection silent for 15 s counts as lost.
const SILENT_MS = 15000;

export class Live {
  constructor({csrf, onStatus, onReconnect}) {
    this.csrf = csrf;
    this.onStatus = onStatus || (() => {});
    this.onReconnect = onReconnect || (() => {});
    this.handlers = new Map();   // channel -> set of handlers
    this.privateHandlers = new Set();
    this.seq = new Map();        // book channel -> last seq
    this.ws = null; this.closed = false; this.attempt = 0; this.everOpen = false;
  }

  start() {
    this.connect();
    this.watchdog = setInterval(() => {
      const ws = this.ws;
      if (ws && ws.readyState === WebSocket.OPEN && Date.now() - this.last > SILENT_MS) {
        ws.onclose({code: 1006});  // reconnect now; the dead socket's own close comes later and is ignored
        try { ws.close(); } catch { /* already closing */ }
      }
    }, 5000);
    return this;
  }

  stop() { this.closed = true; clearInterval(this.watchdog); if (this.ws) this.ws.close(); }

  connect() {
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/ws";
    const ws = this.ws = new WebSocket(url);
    ws.onopen = () => {
      this.attempt = 0; this.last = Date.now();
      if (this.csrf) ws.send(JSON.stringify({type: "session", csrf_token: this.csrf}));
      const channels = [...this.handlers.keys()];
      if (channels.length) ws.send(JSON.stringify({type: "subscribe", channels}));
      this.onStatus("open");
      if (this.everOpen) this.onReconnect();
      this.everOpen = true;
    };
    ws.onmessage = (ev) => { this.last = Date.now(); this.dispatch(JSON.parse(ev.data)); };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.seq.clear();
      if (this.closed || ev.code === 4001) { this.onStatus(ev.code === 4001 ? "ended" : "closed"); return; }
      this.onStatus("lost");
      const wait = Math.min(5000, 250 * 2 ** this.attempt++);
      setTimeout(() => this.connect(), wait);
    };
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Call ``handler(message)`` for every message of ``channel``; subscribe if new. */
  subscribe(channel, handler) {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set(); this.handlers.set(channel, set);
      this.send({type: "subscribe", channels: [channel]});
    }
    set.add(handler);
    return () => this.unsubscribe(channel, handler);
  }

  unsubscribe(channel, handler) {
    const set = this.handlers.get(channel);
    if (!set) return;
    set.delete(handler);
    if (!set.size) {
      this.handlers.delete(channel); this.seq.delete(channel);
      this.send({type: "unsubscribe", channels: [channel]});
    }
  }

  /** The member's orders, fills and notices (the ``orders`` stream). */
  onPrivate(handler) { this.privateHandlers.add(handler); return () => this.privateHandlers.delete(handler); }

  resync(channel) {
    this.seq.delete(channel);
    this.send({type: "unsubscribe", channels: [channel]});
    this.send({type: "subscribe", channels: [channel]});
  }

  dispatch(m) {
    if (m.channel === "orders") { for (const f of this.privateHandlers) f(m); return; }
    if (m.type === "delta") {
      const last = this.seq.get(m.channel);
      if (last === undefined || m.seq !== last + 1) { this.resync(m.channel); return; }
      this.seq.set(m.channel, m.seq);
    } else if (m.type === "snapshot") {
      this.seq.set(m.channel, m.seq);
    }
    const set = this.handlers.get(m.channel);
    if (set) for (const f of set) f(m);
  }
}

/** A local book from a snapshot and its deltas: price text -> lots, per side. */
export class LocalBook {
  constructor() { this.bids = new Map(); this.asks = new Map(); this.seq = 0; }

  apply(m) {
    if (m.type === "snapshot") {
      this.bids = new Map(m.bids); this.asks = new Map(m.asks); this.seq = m.seq;
    } else if (m.type === "delta") {
      for (const [side, price, qty] of m.changes) {
        const book = side === "buy" ? this.bids : this.asks;
        if (qty === 0) book.delete(price); else book.set(price, qty);
      }
      this.seq = m.seq;
    }
  }

  /** ([price, qty] best first for bids, best first for asks), ``depth`` each. */
  levels(depth) {
    const by = (a, b) => Number(a[0]) - Number(b[0]);
    const bids = [...this.bids].sort(by).reverse().slice(0, depth);
    const asks = [...this.asks].sort(by).slice(0, depth);
    return {bids, asks};
  }
}
