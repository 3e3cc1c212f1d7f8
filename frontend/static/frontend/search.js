// The search form, enhanced. Without JavaScript the form works as it is: this module only
// adds the swap button, keeps past days out of the date picker and says so when both
// stations are the same.

function isoDate(day) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${day.getFullYear()}-${pad(day.getMonth() + 1)}-${pad(day.getDate())}`;
}

function enhance(form) {
  const origin = form.elements.namedItem("origin");
  const destination = form.elements.namedItem("destination");
  const date = form.querySelector("[data-search-date]");
  const swap = form.querySelector("[data-search-swap]");

  const checkStations = () => {
    const same = origin.value !== "" && origin.value === destination.value;
    destination.setCustomValidity(same ? destination.dataset.sameStationMessage || "" : "");
  };
  origin.addEventListener("change", checkStations);
  destination.addEventListener("change", checkStations);
  checkStations();

  if (swap) {
    swap.hidden = false;
    swap.addEventListener("click", () => {
      [origin.value, destination.value] = [destination.value, origin.value];
      checkStations();
    });
  }

  if (date) {
    // The phone's own today: the page may have been rendered yesterday and left open.
    const today = isoDate(new Date());
    date.min = today;
    if (date.value && date.value < today) date.value = today;
  }
}

for (const form of document.querySelectorAll("[data-search-form]")) enhance(form);
