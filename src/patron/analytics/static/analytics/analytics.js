// Behaviour analytics: the page's events, recommendation widgets seen and followed, and GA4 behind consent.
// The page's data (#patron-analytics) is the same for every visitor, since catalog pages are cached and shared.
(() => {
  "use strict";
  const dataElement = document.getElementById("patron-analytics");
  if (!dataElement) return;
  const config = JSON.parse(dataElement.textContent);

  // A new visitor's id comes with the answer to their first report, so the page's other reports wait for it and
  // all carry the same id. From then on sendBeacon, which outlives the page (a followed link), sends them. Both
  // post text/plain, which the endpoint reads as JSON.
  const post = (body) =>
    fetch(config.collect, { method: "POST", body, keepalive: true, credentials: "same-origin" }).catch(() => {});
  const beacon = (body) => {
    if (!(navigator.sendBeacon && navigator.sendBeacon(config.collect, body))) post(body);
  };
  let first = null;
  const report = (name, payload) => {
    const body = JSON.stringify({ name, payload });
    if (first === null) {
      first = post(body);
    } else {
      first.then(() => beacon(body));
    }
  };

  if (config.track) {
    config.events.forEach((event) => report(event.name, event.payload));

    // Widgets: <section data-recommendation-id data-slot data-model> holding <a data-product-id> links.
    const WIDGET = "[data-recommendation-id]";
    const describe = (widget) => ({
      recommendation_id: widget.dataset.recommendationId,
      slot: widget.dataset.slot,
      model: widget.dataset.model,
    });
    const productId = (link) => {
      const id = Number(link.dataset.productId);
      return Number.isSafeInteger(id) && id > 0 ? id : null;
    };
    const shown = new WeakSet();
    const visible = "IntersectionObserver" in window
      ? new IntersectionObserver((entries) => {
        entries.forEach((entry) => {
          const widget = entry.target;
          if (!entry.isIntersecting || shown.has(widget)) return;
          shown.add(widget);
          visible.unobserve(widget);
          const links = Array.from(widget.querySelectorAll("a[data-product-id]"));
          const ids = [...new Set(links.map(productId).filter((id) => id !== null))].slice(0, 50);
          if (ids.length) report("recommendation_shown", { ...describe(widget), product_ids: ids });
        });
      }, { threshold: 0.5 })
      : null;
    const watch = (root) => {
      if (!visible || !root.querySelectorAll) return;
      const widgets = Array.from(root.querySelectorAll(WIDGET));
      if (root.matches(WIDGET)) widgets.push(root);
      widgets.filter((widget) => !shown.has(widget)).forEach((widget) => visible.observe(widget));
    };
    watch(document.documentElement);
    // Widgets may arrive later, in htmx swaps.
    document.addEventListener("htmx:load", (event) => watch(event.target));
    document.addEventListener("click", (event) => {
      const link = event.target.closest && event.target.closest("a[data-product-id]");
      const widget = link && link.closest(WIDGET);
      const id = widget && productId(link);
      if (id) report("recommendation_clicked", { ...describe(widget), product_id: id });
    });
  }

  // GA4 with Consent Mode v2: everything denied by default; gtag.js is loaded only once the visitor accepts.
  const ga = config.ga4;
  if (!ga) return;
  window.dataLayer = window.dataLayer || [];
  window.gtag = window.gtag || function gtag() { window.dataLayer.push(arguments); };
  window.gtag("consent", "default", {
    ad_storage: "denied",
    ad_user_data: "denied",
    ad_personalization: "denied",
    analytics_storage: "denied",
  });

  const storedChoice = () => {
    const entry = document.cookie.split("; ").find((part) => part.startsWith(`${ga.cookie}=`));
    return entry ? entry.slice(ga.cookie.length + 1) : "";
  };
  let consent = storedChoice();
  let loaded = false;
  const waiting = [];

  // The confirmation page may be reloaded or reopened; GA4 hears of each order once from this browser.
  const firstTime = (event) => {
    if (event.event !== "purchase") return true;
    const key = `patron:ga4:purchase:${event.params.transaction_id}`;
    try {
      if (window.localStorage.getItem(key)) return false;
      window.localStorage.setItem(key, "1");
    } catch (error) {
      // Storage may be off (private browsing); sending twice is then better than never.
    }
    return true;
  };
  const send = (event) => {
    if (consent === "denied") return;
    if (!loaded) {
      waiting.push(event);
    } else if (firstTime(event)) {
      window.gtag("event", event.event, event.params);
    }
  };
  const load = () => {
    if (loaded) return;
    loaded = true;
    window.gtag("consent", "update", { analytics_storage: "granted" });
    window.gtag("js", new Date());
    window.gtag("config", ga.id);
    const script = document.createElement("script");
    script.async = true;
    script.src = `https://www.googletagmanager.com/gtag/js?id=${encodeURIComponent(ga.id)}`;
    document.head.appendChild(script);
    waiting.splice(0).forEach(send);
  };

  const banner = document.getElementById("consent-banner");
  const decide = (choice) => {
    consent = choice;
    const secure = window.location.protocol === "https:" ? "; Secure" : "";
    document.cookie = `${ga.cookie}=${choice}; Max-Age=${180 * 24 * 3600}; Path=/; SameSite=Lax${secure}`;
    if (banner) banner.hidden = true;
    if (choice === "granted") {
      load();
    } else {
      waiting.length = 0;
    }
  };
  if (consent === "granted") {
    load();
  } else if (consent !== "denied" && banner) {
    banner.hidden = false;
    banner.addEventListener("click", (event) => {
      const button = event.target.closest("[data-consent]");
      if (button) decide(button.dataset.consent === "granted" ? "granted" : "denied");
    });
  }

  ga.events.forEach(send);
  // Events of htmx swaps (add to cart, remove from cart) come in the response's HX-Trigger header.
  document.addEventListener(ga.trigger, (event) => ((event.detail && event.detail.events) || []).forEach(send));
})();
