// The seat map's keyboard, shared by the departure page (seatmap.js) and the live plan
// (plan.js): the ARIA grid pattern. Arrow keys move between seats (up and down to the
// nearest seat of the next row, across the aisle), Home and End to the row's ends, and
// with Ctrl (or Cmd) to the deck's first and last seats.

export const GRID_KEYS = new Set(["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End"]);

export function seatsByRow(grid) {
  const rows = new Map();
  for (const cell of grid.querySelectorAll("[data-seat]")) {
    const row = Number(cell.dataset.row);
    if (!rows.has(row)) rows.set(row, []);
    rows.get(row).push(cell);
  }
  for (const cells of rows.values()) cells.sort((a, b) => a.dataset.col - b.dataset.col);
  return [...rows.entries()].sort((a, b) => a[0] - b[0]).map(([, cells]) => cells);
}

function nearestInRow(cells, column) {
  let best = cells[0];
  for (const cell of cells) {
    if (Math.abs(cell.dataset.col - column) < Math.abs(best.dataset.col - column)) best = cell;
  }
  return best;
}

export function gridNeighbour(rows, cell, key, ctrl) {
  const r = rows.findIndex((cells) => cells.includes(cell));
  const cells = rows[r];
  const c = cells.indexOf(cell);
  switch (key) {
    case "ArrowLeft": return cells[c - 1];
    case "ArrowRight": return cells[c + 1];
    case "ArrowUp": return rows[r - 1] && nearestInRow(rows[r - 1], cell.dataset.col);
    case "ArrowDown": return rows[r + 1] && nearestInRow(rows[r + 1], cell.dataset.col);
    case "Home": return ctrl ? rows[0][0] : cells[0];
    case "End": return ctrl ? rows.at(-1).at(-1) : cells.at(-1);
    default: return undefined;
  }
}
