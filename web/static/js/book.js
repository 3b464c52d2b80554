// The order book kept exactly as docs/websocket.md says: buffer the depth stream, load the REST
// snapshot, drop what it already has, check that the first diff continues it, apply the rest, and
// start again on any gap. The ladder shows nothing it cannot vouch for: while syncing it is blank.

import { api } from "./api.js";
import { cell, fixed, fromUnits, places, toUnits } from "./format.js";

const LEVELS = 12;

export class Book {
  constructor(table, canvas) {
    this.table = table;
    this.canvas = canvas;
    this.market = null;
    this.reset();
  }

  reset() {
    this.bids = new Map();
    this.asks = new Map();
    this.last = null; // the snapshot's or the last applied diff's update id; null while syncing
    this.buffer = [];
  }

  async load(market) {
    this.market = market;
    this.reset();
    this.render();
    const symbol = market.symbol;
    const snapshot = await api("GET", `/depth?market=${encodeURIComponent(symbol)}&limit=1000`);
    if (this.market !== market) return; // another market was picked meanwhile
    snapshot.bids.forEach(([p, q]) => this.bids.set(p, q));
    snapshot.asks.forEach(([p, q]) => this.asks.set(p, q));
    this.last = snapshot.last_update_id;
    const waiting = this.buffer.filter((e) => e.u > this.last);
    this.buffer = [];
    for (const event of waiting) if (!this.apply(event)) return;
    this.render();
  }

  onDiff(event) {
    if (this.last === null) {
      this.buffer.push(event);
      return;
    }
    if (event.u <= this.last) return;
    if (this.apply(event)) this.render();
  }

  apply(event) {
    if (event.U > this.last + 1) { // an update was lost: read the book again
      this.load(this.market);
      return false;
    }
    for (const [side, levels] of [[this.bids, event.b], [this.asks, event.a]]) {
      for (const [price, quantity] of levels) {
        if (/^0(\.0*)?$/.test(quantity)) side.delete(price); else side.set(price, quantity);
      }
    }
    this.last = event.u;
    return true;
  }

  sorted(side, descending) {
    const scale = places(this.market.tick);
    return [...side.entries()]
      .map(([p, q]) => [toUnits(p, scale), p, q])
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0) * (descending ? -1 : 1));
  }

  bestBid() { const [top] = this.sorted(this.bids, true); return top ? top[1] : null; }
  bestAsk() { const [top] = this.sorted(this.asks, false); return top ? top[1] : null; }

  render() {
    const [asksBody, spreadBody, bidsBody] = this.table.tBodies;
    asksBody.replaceChildren();
    bidsBody.replaceChildren();
    const market = this.market;
    if (!market || this.last === null) {
      spreadBody.rows[0].cells[0].textContent = "syncing…";
      this.drawDepth([], []);
      return;
    }
    const priceScale = places(market.tick), qtyScale = places(market.step);
    const bids = this.sorted(this.bids, true), asks = this.sorted(this.asks, false);
    if (bids.length && asks.length && bids[0][0] >= asks[0][0]) { // never show a crossed book: read it again
      this.load(market);
      return;
    }
    for (const [, price, quantity] of asks.slice(0, LEVELS).reverse()) {
      const row = asksBody.insertRow();
      cell(row, fixed(price, priceScale), "ask");
      cell(row, fixed(quantity, qtyScale));
    }
    for (const [, price, quantity] of bids.slice(0, LEVELS)) {
      const row = bidsBody.insertRow();
      cell(row, fixed(price, priceScale), "bid");
      cell(row, fixed(quantity, qtyScale));
    }
    const spread = bids.length && asks.length ? asks[0][0] - bids[0][0] : null;
    spreadBody.rows[0].cells[0].textContent = spread === null ? "–" : `spread ${fromUnits(spread, priceScale)}`;
    this.drawDepth(bids, asks);
  }

  drawDepth(bids, asks) {
    // Cumulative quantity either side of the mid, scaled to the canvas: a picture, not money.
    const canvas = this.canvas, context = canvas.getContext("2d");
    canvas.width = canvas.clientWidth || 300;
    context.clearRect(0, 0, canvas.width, canvas.height);
    const total = (levels) => levels.reduce((acc, [, , q]) => { acc.push((acc.at(-1) || 0) + Number(q)); return acc; }, []);
    const bidDepth = total(bids.slice(0, 50)), askDepth = total(asks.slice(0, 50));
    const most = Math.max(bidDepth.at(-1) || 0, askDepth.at(-1) || 0);
    if (!most) return;
    const half = canvas.width / 2, height = canvas.height;
    const draw = (depths, color, direction) => {
      context.fillStyle = color;
      const width = half / Math.max(depths.length, 1);
      depths.forEach((d, i) => {
        const h = (d / most) * (height - 4);
        const x = direction < 0 ? half - (i + 1) * width : half + i * width;
        context.fillRect(x, height - h, width, h);
      });
    };
    draw(bidDepth, "rgba(22, 163, 74, 0.6)", -1);
    draw(askDepth, "rgba(220, 38, 38, 0.6)", 1);
  }
}
