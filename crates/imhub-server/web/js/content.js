// How each kind of message content looks in the timeline.

import { h, svg, ICON, toast, safeUrl, bytes, pad, t, $ } from "./dom.js";

const EMOJI_ONLY = /^(?:\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Regional_Indicator}|\u200d|\ufe0f|\u20e3|\s)+$/u;
const HAS_EMOJI = /\p{Extended_Pictographic}|\p{Regional_Indicator}/u;
const mmss = (s) => `${Math.floor(s / 60)}:${pad(s % 60)}`;

export function openLightbox(src) {
  $("#lightbox-img").src = safeUrl(src) || "";
  $("#lightbox").showModal();
}

/** The bubble (or bare card) of one message's content. */
export function renderContent(m) {
  const x = m.content || {};
  const bare = (node) => h("div", { class: "bubble bare" }, node);
  switch (x.type) {
    case "text": {
      const jumbo = EMOJI_ONLY.test(x.text) && HAS_EMOJI.test(x.text) && [...x.text.trim()].length <= 6;
      return h("div", { class: "bubble" }, h("div", { class: `text ${jumbo ? "jumbo" : ""}`, text: x.text }));
    }
    case "image": return bare(imageBox(x, m));
    case "emoji":
      return safeUrl(x.url) ? bare(imageBox({ url: x.url, width: 120, height: 120 }, m, 120)) : h("div", { class: "bubble" }, h("div", { class: "text", text: /^\[.*\]$/.test(x.code) ? x.code : `[${x.code}]` }));
    case "video": {
      const box = h("div", { class: "media video" });
      if (safeUrl(x.url)) box.append(h("video", { src: safeUrl(x.url), poster: safeUrl(x.cover_url), controls: true, preload: "metadata", playsinline: true }));
      else {
        // Only the platform's media id: show the cover (if any) and what it is.
        if (safeUrl(x.cover_url)) box.append(h("img", { src: safeUrl(x.cover_url), alt: t("content.video_cover"), loading: "lazy" }));
        box.append(h("span", { class: "play-overlay" }, svg(ICON.play)), h("span", { class: "video-label", text: t("content.video") }));
      }
      if (x.duration_secs) box.append(h("span", { class: "duration", text: mmss(x.duration_secs) }));
      return bare(box);
    }
    case "voice": return h("div", { class: "bubble" }, voice(x));
    case "location": {
      const href = `https://uri.amap.com/marker?position=${x.longitude},${x.latitude}&name=${encodeURIComponent(x.title || "")}`;
      return bare(h("a", { class: "card location", href, target: "_blank", rel: "noopener noreferrer", style: "text-decoration:none;display:block" },
        h("span", { class: "map", "aria-hidden": "true" }),
        h("div", { class: "card-body" }, h("div", { class: "card-title", text: x.title || t("content.location") }), h("div", { class: "card-sub", text: `${x.latitude.toFixed(5)}, ${x.longitude.toFixed(5)}` }))));
    }
    case "file":
      return bare(h("a", { class: "card file-card", href: safeUrl(x.url), target: "_blank", rel: "noopener noreferrer", download: x.name || "" },
        h("span", { class: "file-icon", text: (x.name || "").split(".").pop().slice(0, 4).toUpperCase() || "FILE" }),
        h("div", {}, h("div", { class: "card-title", text: x.name || t("content.file") }), h("div", { class: "card-sub", text: x.size ? bytes(x.size) : "" }))));
    case "lead_card":
      return bare(card("lead", ICON.lead, t("content.lead_card"), x.title || t("content.lead_card_default"), t("content.card_id", { id: x.card_id })));
    case "mini_program_card": {
      const el = card("mini", ICON.mini, t("content.mini_program"), x.title || t("content.mini_program"), [x.app_id, x.path].filter(Boolean).join(" · ") || t("content.card_id", { id: x.card_id }));
      if (safeUrl(x.cover_url)) el.querySelector(".card-head").after(h("img", { class: "card-cover", src: safeUrl(x.cover_url), alt: "", loading: "lazy" }));
      return bare(el);
    }
    case "goods_card": {
      const el = card("goods", ICON.bag, t("content.goods"), t("content.goods_count", { n: (x.product_codes || []).length }), null);
      el.querySelector(".card-body").append(h("div", { class: "chips" }, (x.product_codes || []).map((p) => h("span", { class: "chip", text: p }))));
      return bare(el);
    }
    case "order_card":
      return bare(card("order", ICON.receipt, t("content.order"), x.title || t("content.order_default"), t("content.order_id", { id: x.order_id })));
    case "custom": {
      const el = card("custom", ICON.puzzle, t("content.custom"), x.description || t("content.custom"), null);
      el.querySelector(".card-body").append(h("details", {}, h("summary", { text: t("content.show_data") }), h("pre", { text: JSON.stringify(x.data, null, 2) })));
      return bare(el);
    }
    default:
      return h("div", { class: "bubble" }, h("div", { class: "text", text: `[${x.type || t("content.unknown")}]` }));
  }
}

function card(kind, icon, label, title, sub) {
  return h("div", { class: `card ${kind}` },
    h("div", { class: "card-head" }, svg(icon), h("span", { text: label })),
    h("div", { class: "card-body" }, h("div", { class: "card-title", text: title }), sub ? h("div", { class: "card-sub", text: sub }) : null));
}

/** An image in a box sized before it loads (from width/height when known), opening a larger view. */
function imageBox(x, m, maxW = 240) {
  // Tiny pictures are shown at a readable size; large ones at most maxW wide.
  const w = x.width && x.height ? Math.max(Math.min(120, maxW), Math.min(maxW, x.width)) : maxW;
  const ratio = x.width && x.height ? Math.min(2.5, Math.max(0.4, x.width / x.height)) : 4 / 3;
  const box = h("button", { class: `media ${m.uploading ? "uploading" : ""}`, type: "button", "aria-label": t("content.view_image"), "data-broken": t("content.image_broken"), style: `width:${w}px;aspect-ratio:${ratio}` });
  const src = safeUrl(x.url) || "";
  if (src) {
    const img = h("img", { alt: t("content.image"), loading: "lazy", decoding: "async" });
    img.addEventListener("error", () => { img.remove(); box.classList.add("broken"); });
    img.src = src;
    box.append(img);
    box.addEventListener("click", () => openLightbox(src));
  } else {
    box.classList.add("broken");
  }
  return box;
}

function voice(x) {
  const secs = x.duration_secs || 0;
  const wrap = h("div", { class: "voice", style: `width:${Math.min(260, 120 + secs * 4)}px` });
  const btn = h("button", { class: "play", type: "button", "aria-label": t("content.play_voice") }, svg(ICON.play));
  wrap.append(btn, h("span", { class: "wave" }), h("span", { text: `${secs}″` }));
  if (safeUrl(x.url)) {
    let audio = null;
    btn.addEventListener("click", () => {
      if (!audio) {
        audio = new Audio(safeUrl(x.url));
        audio.addEventListener("ended", () => btn.replaceChildren(svg(ICON.play)));
        audio.addEventListener("error", () => { toast(t("content.voice_failed"), "error"); btn.replaceChildren(svg(ICON.play)); });
      }
      if (audio.paused) { audio.play().catch(() => {}); btn.replaceChildren(svg(ICON.pause)); }
      else { audio.pause(); btn.replaceChildren(svg(ICON.play)); }
    });
  } else {
    btn.disabled = true;
  }
  return wrap;
}
