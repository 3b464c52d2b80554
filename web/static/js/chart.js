// Candles from /api/v1/klines, then kept up to date from the kline stream. The chart library
// draws with numbers; nothing here computes money.

import { CandlestickSeries, createChart } from "/vendor/lightweight-charts.mjs";
import { api } from "./api.js";

export const INTERVALS = ["1m", "5m", "15m", "1h", "4h", "1d"];

function bar(openTime, open, high, low, close) {
  return { time: openTime / 1000, open: Number(open), high: Number(high), low: Number(low), close: Number(close) };
}

export class Candles {
  constructor(container) {
    this.chart = createChart(container, {
      autoSize: true,
      // The attribution the library's licence asks for is the page's footer: its logo would need an inline style sheet.
      layout: { background: { color: "#0f172a" }, textColor: "#cbd5e1", attributionLogo: false },
      grid: { vertLines: { color: "#1e293b" }, horzLines: { color: "#1e293b" } },
      timeScale: { timeVisible: true, secondsVisible: false },
    });
    this.series = this.chart.addSeries(CandlestickSeries, {
      upColor: "#16a34a", downColor: "#dc2626", borderVisible: false,
      wickUpColor: "#16a34a", wickDownColor: "#dc2626",
    });
    this.interval = "1m";
  }

  async load(market, interval) {
    this.market = market;
    this.interval = interval;
    const page = await api("GET", `/klines?market=${encodeURIComponent(market.symbol)}&interval=${interval}&limit=500`);
    if (this.market !== market || this.interval !== interval) return;
    const bars = page.items.map(([t, o, h, l, c]) => bar(t, o, h, l, c)).sort((a, b) => a.time - b.time);
    this.series.setData(bars);
    this.series.applyOptions({ priceFormat: { type: "price", minMove: Number(market.tick),
                                              precision: market.tick.split(".")[1]?.length || 0 } });
  }

  onKline(k) {
    if (k.i === this.interval) this.series.update(bar(k.t, k.o, k.h, k.l, k.c));
  }
}
