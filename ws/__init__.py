"""The WebSocket hub: live trades, depth, tickers, candles and private updates, read from Kafka."""
