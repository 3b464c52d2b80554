// Decimal strings in, decimal strings out: money is never a float here. Amounts are scaled to
// BigInt units of the market's grid, computed exactly, and written back with the grid's places.

export function places(step) {
  const dot = step.indexOf(".");
  return dot < 0 ? 0 : step.length - dot - 1;
}

export function toUnits(text, scale) {
  // "12.5" at scale 3 -> 12500n; null if it is not a plain non-negative decimal or has more places.
  if (!/^\d+(\.\d+)?$/.test(text)) return null;
  const [whole, part = ""] = text.split(".");
  if (part.replace(/0+$/, "").length > scale) return null;
  return BigInt(whole + part.padEnd(scale, "0"));
}

export function fromUnits(units, scale) {
  const negative = units < 0n;
  let digits = (negative ? -units : units).toString().padStart(scale + 1, "0");
  const text = scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return (negative ? "-" : "") + text;
}

export function fixed(text, scale) {
  // A server's decimal string shown with exactly `scale` places, so right-aligned columns line up.
  if (text === null || text === undefined || text === "") return "–";
  const negative = text.startsWith("-");
  const units = toUnits(negative ? text.slice(1) : text, scale);
  return units === null ? text : (negative ? "-" : "") + fromUnits(units, scale);
}

export function time(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

export function cell(row, text, className) {
  // Server values become text nodes, never HTML.
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}
