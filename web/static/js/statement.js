// The statement tab: per asset, the opening and closing balance of a period and what moved it
// (GET /api/v1/statements), and its CSV. Dates are whole UTC days; the period ends with the
// chosen last day.

import { api, session } from "./api.js";

const DAY_MS = 86_400_000;
const COLUMNS = ["asset", "opening", "deposits", "withdrawals", "bought", "sold", "fees", "other", "closing"];

export class Statement {
  constructor(form, table) {
    this.form = form;
    this.table = table;
    const today = new Date().toISOString().slice(0, 10);
    form.elements.from.value = new Date(Date.now() - 30 * DAY_MS).toISOString().slice(0, 10);
    form.elements.to.value = today;
    form.addEventListener("submit", (event) => { event.preventDefault(); this.show().catch((e) => this.error(e)); });
    form.querySelector("[data-action=csv]").addEventListener("click", () => this.download().catch((e) => this.error(e)));
  }

  period() {
    const from = Date.parse(`${this.form.elements.from.value}T00:00:00Z`);
    const to = Date.parse(`${this.form.elements.to.value}T00:00:00Z`) + DAY_MS;
    return `from=${from}&to=${to}`;
  }

  async show() {
    if (!session.token) return;
    const statement = await api("GET", `/statements?${this.period()}`);
    this.form.querySelector("[data-error=form]").textContent = "";
    this.table.tBodies[0].replaceChildren(...statement.assets.map((row) => {
      const tr = document.createElement("tr");
      tr.dataset.asset = row.asset;
      for (const column of COLUMNS) {
        const td = document.createElement("td");
        td.textContent = row[column];
        tr.append(td);
      }
      return tr;
    }));
  }

  async download() {
    const response = await fetch(`/api/v1/statements?${this.period()}&format=csv`,
                                 { headers: { Authorization: `Bearer ${session.token}` } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = `statement-${this.form.elements.from.value}-${this.form.elements.to.value}.csv`;
    link.click();
    URL.revokeObjectURL(link.href);
  }

  error(error) {
    this.form.querySelector("[data-error=form]").textContent = error.message;
  }
}
