// Small enhancements on top of pages that already work without JavaScript.
(() => {
  "use strict";

  // Search suggestions: arrow keys move between the input and the suggested links, Escape closes the list.
  const searchInput = document.getElementById("search-q");
  const suggestionBox = document.getElementById("search-suggestions");
  if (searchInput && suggestionBox) {
    const links = () => Array.from(suggestionBox.querySelectorAll("a"));
    const close = () => { suggestionBox.replaceChildren(); };
    searchInput.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" && links().length) {
        event.preventDefault();
        links()[0].focus();
      } else if (event.key === "Escape") {
        close();
      }
    });
    suggestionBox.addEventListener("keydown", (event) => {
      const all = links();
      const index = all.indexOf(document.activeElement);
      if (event.key === "ArrowDown" && index < all.length - 1) {
        event.preventDefault();
        all[index + 1].focus();
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        (index > 0 ? all[index - 1] : searchInput).focus();
      } else if (event.key === "Escape") {
        close();
        searchInput.focus();
      }
    });
    document.addEventListener("click", (event) => {
      if (!searchInput.form.contains(event.target)) close();
    });
  }

  // Filters: open beside the results on wide screens, folded away on phones; htmx swaps keep the choice.
  const wide = window.matchMedia("(min-width: 56rem)");
  let filtersOpen = null;
  const syncFilters = () => {
    const panel = document.querySelector("[data-filters]");
    if (panel) panel.open = filtersOpen === null ? wide.matches : filtersOpen;
  };
  document.addEventListener("toggle", (event) => {
    if (event.target.matches && event.target.matches("[data-filters]")) filtersOpen = event.target.open;
  }, true);
  wide.addEventListener("change", () => { filtersOpen = null; syncFilters(); });
  document.addEventListener("htmx:afterSwap", syncFilters);
  syncFilters();

  // Product gallery: thumbnails show their image in the main frame instead of opening the file.
  document.addEventListener("click", (event) => {
    const thumb = event.target.closest && event.target.closest("[data-gallery-thumb]");
    const main = document.getElementById("gallery-main");
    if (!thumb || !main) return;
    event.preventDefault();
    // The main picture's srcset outranks its src, so both change.
    main.srcset = thumb.dataset.srcset || "";
    main.src = thumb.href;
    main.alt = thumb.dataset.alt || "";
    if (thumb.dataset.width) {
      main.width = Number(thumb.dataset.width);
      main.height = Number(thumb.dataset.height);
    }
    document.querySelectorAll("[data-gallery-thumb]").forEach((other) => other.removeAttribute("aria-current"));
    thumb.setAttribute("aria-current", "true");
  });

  // Variant picker: show the price and stock of the chosen combination of options.
  const picker = document.querySelector("[data-variant-picker]");
  const dataElement = document.getElementById("variant-data");
  if (picker && dataElement) {
    const variants = JSON.parse(dataElement.textContent);
    const price = document.querySelector("[data-variant-price]");
    const compare = document.querySelector("[data-variant-compare]");
    const stock = document.querySelector("[data-variant-stock]");
    const sku = document.querySelector("[data-variant-sku]");
    const chosen = () => Object.fromEntries(new FormData(picker).entries());
    const matches = (variant, options) =>
      Object.entries(options).every(([name, value]) => variant.options[name] === value);

    const update = () => {
      const options = chosen();
      const variant = variants.find((candidate) => matches(candidate, options));
      if (variant) {
        price.textContent = variant.price;
        price.classList.toggle("price__now--sale", Boolean(variant.compare_at));
        compare.textContent = variant.compare_at;
        compare.hidden = !variant.compare_at;
        stock.textContent = variant.stock;
        stock.className = `stock stock--${variant.level}`;
        sku.textContent = variant.sku;
      } else {
        compare.hidden = true;
        stock.textContent = "This combination is not available";
        stock.className = "stock stock--out";
      }
      // Mark each value that, with the other choices kept, would give nothing in stock.
      picker.querySelectorAll("input[type=radio]").forEach((input) => {
        const wanted = { ...options, [input.name]: input.value };
        const available = variants.some((candidate) => candidate.in_stock && matches(candidate, wanted));
        input.nextElementSibling.classList.toggle("is-unavailable", !available);
      });
    };
    picker.addEventListener("change", update);
    picker.addEventListener("submit", (event) => event.preventDefault());
    update();
  }
})();
