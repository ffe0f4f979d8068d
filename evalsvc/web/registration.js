// Registering a session, pure: the form's values → the POST /api/sessions document, with
// every problem named in Chinese by its field; GB 32100 USCC check characters; bids
// pasted from a spreadsheet. Tested by tests/web/registration.test.mjs.

// GB 32100-2015 §4: the character set in value order; §5.2: weights 3^(i-1) mod 31.
const USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/** null when `code` is a valid unified social credit code, else the reason in Chinese. */
export function usccProblem(code) {
  if (code.length !== 18) return `应为 18 位，当前 ${code.length} 位`;
  const bad = [...new Set([...code].filter((c) => !USCC_ALPHABET.includes(c)))];
  if (bad.length) return `含有不允许的字符 ${bad.join("")}（只用数字和除 I、O、S、V、Z 外的大写字母）`;
  let total = 0;
  let w = 1;
  for (let i = 0; i < 17; i += 1) {
    total += USCC_ALPHABET.indexOf(code[i]) * w;
    w = (w * 3) % 31;
  }
  const expected = USCC_ALPHABET[(31 - (total % 31)) % 31];
  return code[17] === expected ? null : `校验位不对（应为 ${expected}），请核对`;
}

/** The element id of a document path: "bids/0/uscc" → "r-bids-0-uscc". */
export function regFieldId(path) {
  return `r-${String(path).replaceAll("/", "-").replaceAll("_", "-")}`;
}

const NAMES = {
  title: "项目名称", tenderer: "招标人", tender_number: "招标项目编号", tenderer_uscc: "招标人统一社会信用代码", method: "评标方法", id: "编号", name: "名称", region: "地区", city: "城市",
  seats: "席位数", bidder: "投标人", uscc: "统一社会信用代码", price_fen: "报价", category: "类别", max_points: "分值",
  stages: "评审阶段", anonymous: "暗标", price_formula: "价格分计算方法", factor: "基准价系数",
  deduct_above: "高于基准价每 1% 扣分", deduct_below: "低于基准价每 1% 扣分", floor: "价格分最低分",
  drop_extremes: "去掉最高价和最低价", guidance: "评分指引",
};

/** The Chinese name of a registration field path: "bids/0/uscc" → "投标 1 统一社会信用代码". */
export function regFieldLabel(path) {
  const p = String(path).split("/");
  const leaf = NAMES[p[p.length - 1]] || "输入项";
  if (p[0] === "primary_venue") return `主场${leaf}`;
  if (p[0] === "secondary_venues") return `副场 ${Number(p[1]) + 1} ${leaf}`;
  if (p[0] === "bids") return p.length > 2 ? `投标 ${Number(p[1]) + 1} ${leaf}` : "投标";
  if (p[0] === "criteria") return p.length > 2 ? `评分项 ${Number(p[1]) + 1} ${leaf}` : "评分项";
  return leaf;
}

const POSITIVE_INT = /^[1-9][0-9]{0,2}$/;
/** The longest guidance a criterion may carry (evalsvc.sessions.model.GUIDANCE_MAX). */
export const GUIDANCE_MAX = 1000;
const POINTS = /^[0-9]+(\.[0-9]+)?$/;
const YUAN = /^[0-9]+(\.[0-9]{1,2})?$/;

/** Yuan "12860000.5" → fen 1286000050 (exact, no floats). */
export function yuanToFen(text) {
  const [int, frac = ""] = text.split(".");
  return Number(BigInt(int) * 100n + BigInt((frac + "00").slice(0, 2)));
}

/**
 * form = {title, tenderer, method, primary: {id, name, region, city, seats},
 *         secondary: [{…}], bids: [{id, bidder, uscc, price}], criteria: [{id, name, category, max_points, guidance?}],
 *         stages?: "combined" | "split", anonymous?: bool, price_formula?: "lowest_price_ratio" |
 *         "average_benchmark", benchmark?: {factor, deduct_above, deduct_below, floor, drop_extremes}}
 * (strings as typed) → {doc, errors: [{field, label, message}]}.
 */
export function buildRegistration(form) {
  const errors = [];
  const need = (path, value, message = "请填写") => {
    if (!String(value ?? "").trim()) {
      errors.push({ field: path, label: regFieldLabel(path), message });
      return false;
    }
    return true;
  };
  const bad = (path, message) => errors.push({ field: path, label: regFieldLabel(path), message });
  const venue = (prefix, v) => {
    for (const k of ["id", "name", "city"]) need(`${prefix}/${k}`, v[k]);
    if (need(`${prefix}/seats`, v.seats) && !POSITIVE_INT.test(String(v.seats).trim())) bad(`${prefix}/seats`, "应为正整数");
    return { id: String(v.id || "").trim(), name: String(v.name || "").trim(), region: v.region, city: String(v.city || "").trim(),
      seats: Number(String(v.seats).trim()) || 0 };
  };
  need("title", form.title);
  need("tenderer", form.tenderer);
  // The tender's number and the tenderer's USCC: the draw's recusal rules and the pool's
  // history read them from the session (docs/draw.md §6.8).
  const number = String(form.tender_number || "").trim();
  if (need("tender_number", number) && (/\s/.test(number) || number.length > 64)) {
    bad("tender_number", "应为 1 到 64 个字符（字母、数字、汉字及 - _ . / # 括号），不含空格");
  }
  const tendererUscc = String(form.tenderer_uscc || "").trim().toUpperCase();
  if (need("tenderer_uscc", tendererUscc)) {
    const problem = usccProblem(tendererUscc);
    if (problem) bad("tenderer_uscc", problem);
  }
  const formula = form.price_formula || "lowest_price_ratio";
  const doc = {
    title: String(form.title || "").trim(), tenderer: String(form.tenderer || "").trim(),
    tender_number: number, tenderer_uscc: tendererUscc, method: form.method,
    primary_venue: venue("primary_venue", form.primary),
    secondary_venues: form.secondary.map((v, i) => venue(`secondary_venues/${i}`, v)),
    bids: [], criteria: [],
  };
  // 招标投标法 第三十七条: a committee of five or more, an odd number.
  const seats = [doc.primary_venue, ...doc.secondary_venues].reduce((n, v) => n + v.seats, 0);
  if (!errors.some((e) => e.field.endsWith("/seats")) && (seats < 5 || seats % 2 === 0)) {
    bad("primary_venue/seats", `评标委员会须为 5 人以上的单数（招标投标法第三十七条），当前共 ${seats} 席`);
  }
  const ids = new Set([doc.primary_venue.id]);
  doc.secondary_venues.forEach((v, i) => {
    if (v.id && ids.has(v.id)) bad(`secondary_venues/${i}/id`, "与其他场地编号重复");
    ids.add(v.id);
  });
  if (!form.bids.length) errors.push({ field: "bids", label: "投标", message: "至少登记一份投标" });
  const bidIds = new Set();
  form.bids.forEach((b, i) => {
    const p = `bids/${i}`;
    need(`${p}/id`, b.id);
    if (b.id && bidIds.has(b.id.trim())) bad(`${p}/id`, "编号重复");
    bidIds.add(String(b.id || "").trim());
    need(`${p}/bidder`, b.bidder);
    const uscc = String(b.uscc || "").trim().toUpperCase();
    if (need(`${p}/uscc`, uscc)) {
      const problem = usccProblem(uscc);
      if (problem) bad(`${p}/uscc`, problem);
    }
    const price = String(b.price || "").trim().replaceAll(",", "");
    let fen = 0;
    if (need(`${p}/price_fen`, price)) {
      if (!YUAN.test(price)) bad(`${p}/price_fen`, "请填写金额（元），最多两位小数，例如 12860000.00");
      else fen = yuanToFen(price);
    }
    doc.bids.push({ id: String(b.id || "").trim(), bidder: String(b.bidder || "").trim(), uscc, price_fen: fen });
  });
  if (!form.criteria.length) errors.push({ field: "criteria", label: "评分项", message: "至少设置一个评分项" });
  form.criteria.forEach((c, i) => {
    const p = `criteria/${i}`;
    need(`${p}/id`, c.id);
    need(`${p}/name`, c.name);
    const crit = { id: String(c.id || "").trim(), name: String(c.name || "").trim(), category: c.category };
    if (c.category !== "qualification" && c.category !== "compliance") {
      const pts = String(c.max_points || "").trim();
      if (need(`${p}/max_points`, pts)) {
        if (!POINTS.test(pts) || Number(pts) <= 0) bad(`${p}/max_points`, "应为大于 0 的数字，例如 40 或 7.5");
      }
      crit.max_points = pts;
    }
    if (c.category === "price") crit.formula = formula;
    const guidance = String(c.guidance || "").trim();
    if (guidance) {
      // The server's limit, counted as it counts (code points, not UTF-16 units).
      const n = [...guidance].length;
      if (n > GUIDANCE_MAX) bad(`${p}/guidance`, `最多 ${GUIDANCE_MAX} 个字符，当前 ${n} 个`);
      crit.guidance = guidance;
    }
    doc.criteria.push(crit);
  });
  // The stages (docs/scoring.md "Stages"): technical and commercial reviewed and locked
  // apart, and 暗标 (the technical bids by code), for weighted scoring only.
  const stages = form.stages || "combined";
  if (stages !== "combined") {
    if (form.method !== "weighted_scoring") bad("stages", "分技术、商务两阶段评审只适用于综合评估法");
    doc.stages = stages;
  }
  if (form.anonymous) {
    if (stages !== "split") bad("anonymous", "暗标须分技术、商务两阶段评审（先在“评审阶段”中选择）");
    doc.anonymous = true;
    // The experts read the guidance beside the bids' codes: a bidder named there breaks them.
    doc.criteria.forEach((c, i) => {
      const named = doc.bids.filter((b) => c.guidance && ((b.bidder && c.guidance.includes(b.bidder)) || (b.uscc && c.guidance.includes(b.uscc))));
      if (named.length) bad(`criteria/${i}/guidance`, `暗标项目的评分指引不得出现投标人名称或代码（出现了：${named.map((b) => b.bidder).join("、")}）`);
    });
  }
  if (formula === "average_benchmark") {
    // 评标基准价法: empty parameters take the server's defaults (docs/scoring.md).
    const params = {};
    for (const k of ["factor", "deduct_above", "deduct_below", "floor"]) {
      const v = String((form.benchmark || {})[k] ?? "").trim();
      if (!v) continue;
      if (!POINTS.test(v)) bad(`rules/average_benchmark/${k}`, "应为数字，例如 0.97 或 1");
      params[k] = v;
    }
    if ((form.benchmark || {}).drop_extremes) params.drop_extremes = true;
    doc.rules = { price_formula: formula, average_benchmark: params };
  }
  return { doc, errors };
}

/**
 * Bids pasted from a spreadsheet (tab- or comma-separated: 编号, 投标人, 统一社会信用代码,
 * 报价（元）); a header row is skipped. → [{id, bidder, uscc, price}].
 */
export function parsePastedBids(text) {
  const rows = [];
  for (const line of String(text).split(/\r?\n/)) {
    if (!line.trim()) continue;
    const cells = (line.includes("\t") ? line.split("\t") : line.split(",")).map((c) => c.trim().replace(/^"|"$/g, ""));
    if (cells.length < 4) continue;
    if (/编号|投标人|bidder/i.test(cells[0] + cells[1])) continue;
    rows.push({ id: cells[0], bidder: cells[1], uscc: cells[2].toUpperCase(), price: cells[3].replace(/[,，¥￥元\s]/g, "") });
  }
  return rows;
}
