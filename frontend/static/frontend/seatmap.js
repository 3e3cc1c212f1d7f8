// The seat map, enhanced. The server draws every seat with its status and an aria-label;
// this module lets you pick a seat (tap, click, Enter or Space) to see its details in the
// panel below the map, and moves between seats with the arrow keys, Home and End, the
// way an ARIA grid is expected to behave (one tab stop per deck, roving tabindex).

import { GRID_KEYS as KEYS, gridNeighbour, seatsByRow } from "./seat-grid.js";

function setUp(root) {
  const panel = root.querySelector("[data-seat-panel]");
  const title = panel.querySelector("[data-seat-panel-title]");
  const where = panel.querySelector("[data-seat-panel-where]");
  const info = panel.querySelector("[data-seat-panel-info]");
  const status = panel.querySelector("[data-seat-panel-status]");
  const icon = panel.querySelector("[data-seat-panel-icon]");
  const close = panel.querySelector("[data-seat-panel-close]");
  let selected = null;

  const show = (cell) => {
    if (selected) selected.setAttribute("aria-selected", "false");
    selected = cell;
    cell.setAttribute("aria-selected", "true");
    title.textContent = cell.dataset.seatTitle;
    where.textContent = cell.dataset.seatWhere;
    info.textContent = cell.dataset.seatInfo;
    status.textContent = cell.dataset.seatStatusLabel;
    status.dataset.status = cell.dataset.seatStatus;
    // The icon copies the seat's look (class, status, facing) but not its selection.
    icon.className = cell.className + " seat--demo";
    icon.textContent = cell.textContent;
    panel.hidden = false;
  };

  const hide = () => {
    panel.hidden = true;
    if (selected) {
      selected.setAttribute("aria-selected", "false");
      selected.focus();
      selected = null;
    }
  };
  close.addEventListener("click", hide);

  for (const grid of root.querySelectorAll("[data-seatmap-grid]")) {
    const rows = seatsByRow(grid);
    const cells = rows.flat();
    if (!cells.length) continue;
    for (const cell of cells) {
      cell.tabIndex = -1;
      cell.setAttribute("aria-selected", "false");
    }
    cells[0].tabIndex = 0;

    const moveTo = (cell) => {
      for (const other of cells) other.tabIndex = -1;
      cell.tabIndex = 0;
      cell.focus();
    };

    grid.addEventListener("click", (event) => {
      const cell = event.target.closest("[data-seat]");
      if (!cell) return;
      moveTo(cell);
      show(cell);
    });

    grid.addEventListener("keydown", (event) => {
      const cell = event.target.closest("[data-seat]");
      if (!cell) return;
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        show(cell);
      } else if (event.key === "Escape" && !panel.hidden) {
        hide();
      } else if (KEYS.has(event.key)) {
        event.preventDefault();
        const next = gridNeighbour(rows, cell, event.key, event.ctrlKey || event.metaKey);
        if (next) moveTo(next);
      }
    });
  }
}

for (const root of document.querySelectorAll("[data-seatmap]")) setUp(root);
