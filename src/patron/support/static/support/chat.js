// The help widget (htmx may load after this script; it is looked up when used): opens a panel whose content (the chat) is fetched on demand, keeps the newest message in
// view, and closes with Escape, giving focus back to the button that opened it.
(() => {
  // Threads marked data-autoscroll (the inbox's) open on their newest message and stay there as messages arrive.
  const follow = () =>
    document.querySelectorAll("[data-autoscroll]").forEach((thread) => {
      thread.scrollTop = thread.scrollHeight;
    });
  follow();
  document.body.addEventListener("htmx:afterSwap", follow);

  const widget = document.getElementById("support-widget");
  if (!widget) return;
  const launcher = widget.querySelector("[data-support-launcher]");
  const panel = document.getElementById("support-panel");
  const body = document.getElementById("support-panel-body");

  const scrollDown = () => {
    const thread = document.getElementById("support-thread");
    if (thread) thread.scrollTop = thread.scrollHeight;
  };
  const open = () => {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    window.htmx.ajax("GET", launcher.dataset.panelUrl, { target: body, swap: "innerHTML" }).then(() => {
      scrollDown();
      const input = document.getElementById("support-input");
      if (input) input.focus();
    });
  };
  const close = () => {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    // Removing the chat stops its polling while the panel is closed.
    body.innerHTML = "";
    launcher.focus();
  };

  launcher.addEventListener("click", () => (panel.hidden ? open() : close()));
  widget.querySelector("[data-support-close]").addEventListener("click", close);
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  document.querySelectorAll("[data-support-open]").forEach((button) =>
    button.addEventListener("click", () => panel.hidden && open()),
  );
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (panel.contains(event.target)) {
      scrollDown();
      const input = document.getElementById("support-input");
      if (input && document.activeElement && document.activeElement.closest(".support-quick")) input.focus();
    }
  });
})();
