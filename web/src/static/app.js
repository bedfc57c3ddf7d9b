// Progressive enhancement only: every page works without script.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = source.value || source.textContent.trim();
  const done = () => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => {});
  } else {
    const area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); done(); } finally { area.remove(); }
  }
});

// ---- Billing ------------------------------------------------------------------------------
// Pay Now, adding and managing saved payment methods (Client Portal), and small helpers on the
// firm's Billing section. Card and bank details are read from fields without a `name` and sent
// only to the payment provider: Stripe.js in Stripe mode, the test provider's /mock-psp/tokens
// otherwise. They never go to this site's JSON API and are never logged.
(() => {
  const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

  // Calls the Portal's JSON API with the session cookie and the CSRF header. Resolves to
  // `{ status, ok, data }`; rejects only when the network fails.
  async function portalApi(method, path, body, headers = {}) {
    const init = {
      method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrfToken(), ...headers },
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    return { status: res.status, ok: res.ok, data };
  }

  const problem = (answer, fallback) =>
    (answer.data && (answer.data.detail || answer.data.message)) || fallback;

  // A UUID for the Idempotency-Key: crypto.randomUUID where the page is a secure context,
  // else the same from crypto.getRandomValues.
  function newKey() {
    if (window.crypto?.randomUUID) return window.crypto.randomUUID();
    const b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // "1,250.00", "1250", "1250.5" → minor units; null for anything else (the same strict rules
  // as the firm's forms: no symbols, at most two decimals, commas only as thousands groups).
  function minorUnits(text) {
    const t = (text || "").trim();
    if (!/^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?$/.test(t)) return null;
    const [whole, fraction = ""] = t.replace(/,/g, "").split(".");
    if (whole.replace(/^0+/, "").length > 12) return null;
    return Number(whole) * 100 + Number(fraction.padEnd(2, "0"));
  }

  const setStatus = (el, text, kind) => {
    if (!el) return;
    el.textContent = text;
    el.className = el.className.replace(/\bnotice(?: (?:error|success|info))?\b/g, "").trim();
    if (kind) el.classList.add("notice", kind);
    el.hidden = !text;
  };

  // Buttons that only work with script are disabled in the HTML and enabled here.
  document.querySelectorAll("[data-needs-script]").forEach((el) => { el.disabled = false; });

  // Confirmation before an irreversible form (Void).
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  // Firm: "Add a line" on the draft invoice form.
  document.querySelectorAll("[data-add-line]").forEach((button) => {
    const lines = document.querySelector(button.dataset.addLine);
    if (!lines) return;
    button.hidden = false;
    button.addEventListener("click", () => {
      const rows = lines.querySelectorAll(".invoice-line");
      const last = rows[rows.length - 1];
      if (!last) return;
      const copy = last.cloneNode(true);
      const n = rows.length + 1;
      copy.querySelectorAll("input").forEach((input) => {
        input.value = "";
        const label = input.getAttribute("aria-label") || "";
        input.setAttribute("aria-label", label.replace(/\d+/, String(n)));
      });
      lines.appendChild(copy);
      copy.querySelector("input")?.focus();
    });
  });

  // Firm: choosing an invoice to apply a payment to suggests its balance as the amount.
  const applyTo = document.getElementById("payment-invoice");
  const paymentAmount = document.getElementById("payment-amount");
  applyTo?.addEventListener("change", () => {
    const balance = applyTo.selectedOptions[0]?.dataset.balance;
    if (balance && paymentAmount && !paymentAmount.value.trim()) paymentAmount.value = balance;
  });

  // ---- adding a payment method ------------------------------------------------------------

  const stripeCards = new WeakMap();

  function mountStripe(form) {
    const mount = form.querySelector("[data-stripe-card]");
    const status = form.querySelector("[data-status]");
    if (!mount) return;
    if (typeof window.Stripe !== "function") {
      setStatus(status, "The card form could not be loaded. Reload the page, or try again later.", "error");
      form.querySelector('button[type="submit"]').disabled = true;
      return;
    }
    const stripe = window.Stripe(form.dataset.publishableKey, { stripeAccount: form.dataset.stripeAccount });
    const card = stripe.elements().create("card", { hidePostalCode: false });
    card.mount(mount);
    stripeCards.set(form, { stripe, card });
  }

  // The chosen kind's fields (card or bank account) as `{ name: value }`.
  function methodFields(form) {
    const kind = form.querySelector('input[name="method_kind"]:checked')?.value || "card";
    const values = { kind };
    form.querySelectorAll(`[data-kind-fields="${kind}"] [data-field], [data-field="holder_name"]`).forEach((input) => {
      values[input.dataset.field] = input.value.trim();
    });
    return values;
  }

  // The provider's token for the typed details (mock) or the confirmed SetupIntent (Stripe).
  async function providerToken(form, setup, fields) {
    if (setup.provider === "stripe") {
      const mounted = stripeCards.get(form);
      if (!mounted) throw new Error("The card form is not available.");
      const result = await mounted.stripe.confirmCardSetup(setup.client_secret, {
        payment_method: { card: mounted.card, billing_details: { name: fields.holder_name || undefined } },
      });
      if (result.error) throw new Error(result.error.message);
      return result.setupIntent.payment_method;
    }
    const body = fields.kind === "bank_account"
      ? { routing_number: fields.routing_number, account_number: fields.account_number }
      : {
          card_number: (fields.card_number || "").replace(/[\s-]/g, ""),
          exp_month: Number(fields.exp_month),
          exp_year: Number(fields.exp_year),
          cvc: fields.cvc,
        };
    // The test provider stands in for Stripe's servers: the details go there and nowhere else.
    const res = await fetch("/mock-psp/tokens", {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    if (!res.ok || !data?.provider_token) {
      throw new Error(data?.detail || "Those details were not accepted. Check them and try again.");
    }
    return data.provider_token;
  }

  async function addMethod(form) {
    const status = form.querySelector("[data-status]");
    const button = form.querySelector('button[type="submit"]');
    const fields = methodFields(form);
    button.disabled = true;
    setStatus(status, "Saving…", "info");
    try {
      const setup = await portalApi("POST", "/api/v1/portal/payment-methods/setup");
      if (!setup.ok) throw new Error(problem(setup, "Payment methods cannot be added at the moment."));
      const token = await providerToken(form, setup.data, fields);
      const saved = await portalApi("POST", "/api/v1/portal/payment-methods", {
        setup_id: setup.data.setup_id,
        provider_token: token,
      });
      if (!saved.ok) throw new Error(problem(saved, "The payment method could not be saved."));
      let method = saved.data;
      if (fields.holder_name && fields.holder_name !== (method.holder_name || "")) {
        const named = await portalApi("PATCH", `/api/v1/portal/payment-methods/${method.id}`, {
          holder_name: fields.holder_name,
        });
        if (named.ok) method = named.data;
      }
      // Nothing typed stays in the page once the provider has it.
      form.querySelectorAll("[data-kind-fields] input").forEach((input) => { input.value = ""; });
      form.dispatchEvent(new CustomEvent("method-added", { bubbles: true, detail: method }));
      setStatus(status, "Payment method added.", "success");
    } catch (err) {
      setStatus(status, err.message || "The payment method could not be saved.", "error");
    } finally {
      button.disabled = false;
    }
  }

  document.querySelectorAll("form[data-add-method]").forEach((form) => {
    if (form.dataset.provider === "stripe") mountStripe(form);
    form.querySelectorAll('input[name="method_kind"]').forEach((radio) => {
      radio.addEventListener("change", () => {
        form.querySelectorAll("[data-kind-fields]").forEach((box) => {
          box.hidden = box.dataset.kindFields !== radio.value || !radio.checked;
        });
      });
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      addMethod(form);
    });
  });

  // On the payment methods page a new method shows after a reload; in the Pay Now dialog it
  // becomes the chosen method.
  document.addEventListener("method-added", (event) => {
    const select = document.getElementById("pay-method");
    if (!select) {
      window.location.assign(`/payment-methods?done=added${backToInvoice()}`);
      return;
    }
    const m = event.detail;
    select.querySelector("option[data-placeholder]")?.remove();
    const option = new Option(`${m.brand ? m.brand[0].toUpperCase() + m.brand.slice(1) : "Card"} ending in ${m.last4}`, m.id, true, true);
    select.add(option);
    select.dispatchEvent(new Event("change"));
    const details = document.getElementById("pay-add");
    if (details) details.open = false;
  });

  // ---- managing saved methods -----------------------------------------------------------

  const methodsError = document.getElementById("methods-error");

  // Keeps the way back to the invoice the client came from (Pay Now → Add a payment method).
  function backToInvoice() {
    const back = document.getElementById("back-to-invoice");
    return back ? `&invoice=${encodeURIComponent(back.getAttribute("href").split("/").pop())}` : "";
  }

  async function methodAction(method, path, body, done) {
    try {
      const answer = await portalApi(method, path, body);
      if (!answer.ok) {
        setStatus(methodsError, problem(answer, "That did not work. Try again."), "error");
        return;
      }
      window.location.assign(`/payment-methods?done=${done}${backToInvoice()}`);
    } catch {
      setStatus(methodsError, "The Portal could not be reached. Check your connection and try again.", "error");
    }
  }

  document.addEventListener("click", (event) => {
    const makeDefault = event.target.closest("[data-method-default]");
    if (makeDefault) {
      methodAction("POST", `/api/v1/portal/payment-methods/${makeDefault.dataset.methodDefault}/default`, undefined, "default");
      return;
    }
    const remove = event.target.closest("[data-method-remove]");
    if (remove && window.confirm(`Remove ${remove.dataset.label}?`)) {
      methodAction("DELETE", `/api/v1/portal/payment-methods/${remove.dataset.methodRemove}`, undefined, "removed");
    }
  });

  document.querySelectorAll("form[data-edit-method]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const v = Object.fromEntries(new FormData(form));
      const patch = {
        holder_name: v.holder_name ?? "",
        email: v.email ?? "",
        billing_address: {
          line1: v.line1, line2: v.line2, city: v.city, state: v.state,
          postal_code: v.postal_code, country: v.country,
        },
      };
      if ("exp_month" in v && v.exp_month.trim()) patch.exp_month = Number(v.exp_month);
      if ("exp_year" in v && v.exp_year.trim()) patch.exp_year = Number(v.exp_year);
      methodAction("PATCH", `/api/v1/portal/payment-methods/${form.dataset.editMethod}`, patch, "updated");
    });
  });

  // ---- Pay Now ----------------------------------------------------------------------------

  document.addEventListener("click", (event) => {
    const open = event.target.closest("[data-pay-open]");
    if (open) document.querySelector(open.dataset.payOpen)?.showModal();
    const close = event.target.closest("[data-dialog-close]");
    if (close) close.closest("dialog")?.close();
  });

  const payForm = document.getElementById("pay-form");
  if (payForm) {
    const dialog = payForm.closest("dialog");
    // After a payment the page behind is out of date, however the dialog is closed (Escape too).
    dialog.addEventListener("close", () => {
      if (dialog.dataset.done) window.location.reload();
    });
    const result = document.getElementById("pay-result");
    const submit = document.getElementById("pay-submit");
    const cancel = document.getElementById("pay-cancel");
    const amountField = document.getElementById("pay-amount");
    const methodField = document.getElementById("pay-method");
    // One key per payment attempt: kept while the same amount and method are retried (a lost
    // answer or a pending charge), dropped when the attempt has a final answer or the client
    // changes what they pay.
    let attemptKey = null;
    const newAttempt = () => { attemptKey = null; };
    amountField.addEventListener("input", newAttempt);
    methodField.addEventListener("change", newAttempt);

    const show = (html) => {
      result.replaceChildren(...html);
      result.hidden = false;
    };
    const line = (text, strong, id) => {
      const p = document.createElement("p");
      p.append(text);
      if (strong) {
        const s = document.createElement("strong");
        if (id) s.id = id;
        s.textContent = strong;
        p.append(" ", s);
      }
      return p;
    };

    function succeeded(data) {
      result.className = "pay-result notice success";
      show([
        line("Payment received. Confirmation number:", data.confirmation_number || "", "pay-confirmation"),
        line("Transaction id:", data.transaction_id),
        line("A receipt is on its way to your email."),
      ]);
      payForm.hidden = true;
      document.getElementById("pay-add")?.setAttribute("hidden", "");
      document.getElementById("pay-add-link")?.setAttribute("hidden", "");
      submit.hidden = true;
      cancel.textContent = "Close";
      dialog.dataset.done = "1";
    }

    function failed(message, transaction) {
      result.className = "pay-result notice error";
      const parts = [line(message)];
      if (transaction) parts.push(line("Transaction id:", transaction, "pay-transaction"));
      show(parts);
    }

    async function pay(retries) {
      const amount = minorUnits(amountField.value);
      if (amount === null || amount <= 0) {
        failed("Enter an amount such as 1,250.00 (at most two decimals).");
        return;
      }
      if (!methodField.value) {
        failed("Choose a payment method, or add one.");
        return;
      }
      attemptKey ??= newKey();
      submit.disabled = true;
      result.className = "pay-result notice info";
      show([line("Processing your payment…")]);
      let answer;
      try {
        answer = await portalApi(
          "POST",
          `/api/v1/portal/invoices/${payForm.dataset.invoice}/payments`,
          { amount, payment_method_id: methodField.value },
          { "Idempotency-Key": attemptKey },
        );
      } catch {
        submit.disabled = false;
        failed("Your payment could not be sent: check your connection and press Pay again. You will not be charged twice.");
        return;
      } finally {
        submit.disabled = false;
      }
      const data = answer.data || {};
      if (answer.status === 200 && data.status === "succeeded") {
        attemptKey = null;
        succeeded(data);
      } else if (answer.status === 200 && data.status === "failed") {
        attemptKey = null;
        failed(`The payment failed: ${data.message || "the payment was refused"}`, data.transaction_id);
      } else if (answer.status === 202 || answer.status >= 500) {
        // Not decided yet, or the provider could not be reached: the same key asks again.
        if (retries > 0) {
          setTimeout(() => pay(retries - 1), 2000);
          return;
        }
        failed(`${problem(answer, "Your payment is still being processed.")} Press Pay again to check; you will not be charged twice.`, data.transaction_id);
      } else {
        attemptKey = null;
        failed(problem(answer, "The payment could not be made."));
      }
    }

    payForm.addEventListener("submit", (event) => {
      event.preventDefault();
      pay(3);
    });
  }
})();
