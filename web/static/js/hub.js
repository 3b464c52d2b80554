// One connection to the hub, kept: on a drop it reconnects with a growing pause, sends AUTH and
// every SUBSCRIBE again, and tells the page (which then reloads what it keeps: the book above all).

export class Hub {
  constructor(url, onMessage, onState) {
    this.url = url;
    this.onMessage = onMessage;
    this.onState = onState;
    this.streams = new Set();
    this.token = null;
    this.nextId = 1;
    this.pause = 500;
    this.open();
  }

  open() {
    this.ws = new WebSocket(this.url);
    this.ws.onopen = () => {
      this.pause = 500;
      if (this.token) this.send("AUTH", [this.token]);
      if (this.streams.size) this.send("SUBSCRIBE", [...this.streams]);
      this.onState(true);
    };
    this.ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.stream) this.onMessage(message.stream, message.data);
    };
    this.ws.onclose = () => {
      this.onState(false);
      setTimeout(() => this.open(), this.pause);
      this.pause = Math.min(this.pause * 2, 8000);
    };
  }

  send(method, params) {
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ method, params, id: this.nextId++ }));
    }
  }

  subscribe(streams) {
    streams.forEach((s) => this.streams.add(s));
    this.send("SUBSCRIBE", streams);
  }

  unsubscribe(streams) {
    streams.forEach((s) => this.streams.delete(s));
    this.send("UNSUBSCRIBE", streams);
  }

  authenticate(token) {
    this.token = token;
    if (token) this.send("AUTH", [token]);
  }
}
