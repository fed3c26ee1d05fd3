// Renders /api/openapi.json as a readable page: operations by area, their parameters, bodies,
// answers, and the objects they refer to. DOM built with createElement/textContent only.

const METHODS = ["get", "post", "put", "patch", "delete"];

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }
  return node;
}

function refName(ref) {
  return ref.split("/").pop();
}

function refLink(ref) {
  if (!ref.startsWith("#/components/schemas/")) return el("code", {}, refName(ref));
  const name = refName(ref);
  return el("a", { href: `#schema-${name}` }, name);
}

function rules(schema) {
  const parts = [];
  if (schema.enum) parts.push(`one of ${schema.enum.join(", ")}`);
  if (schema.minLength !== undefined || schema.maxLength !== undefined) {
    parts.push(`${schema.minLength ?? 0} to ${schema.maxLength ?? "any"} characters`);
  }
  if (schema.minimum !== undefined || schema.maximum !== undefined) {
    parts.push(`${schema.minimum ?? "any"} to ${schema.maximum ?? "any"}`);
  }
  if (schema.maxItems !== undefined) parts.push(`at most ${schema.maxItems} items`);
  if (schema.minItems) parts.push(`at least ${schema.minItems} items`);
  if (schema.pattern) parts.push(`matches ${schema.pattern}`);
  if (schema.format) parts.push(schema.format);
  return parts.join("; ");
}

// A one-line name for a schema's type, with links to named objects.
function typeLabel(schema) {
  if (!schema) return el("span", {}, "any");
  if (schema.$ref) return refLink(schema.$ref);
  if (schema.anyOf) {
    const span = el("span");
    schema.anyOf.forEach((part, index) => {
      if (index) span.append(" or ");
      span.append(part.type === "null" ? "null" : typeLabel(part));
    });
    return span;
  }
  if (schema.type === "array") return el("span", {}, "array of ", typeLabel(schema.items));
  return el("span", {}, schema.type || "any");
}

function objectOf(schema) {
  if (!schema) return null;
  if (schema.type === "object" && schema.properties) return schema;
  if (schema.type === "array") return objectOf(schema.items);
  if (schema.anyOf) return schema.anyOf.map(objectOf).find(Boolean) || null;
  return null;
}

function schemaTree(schema, depth = 0) {
  const object = objectOf(schema);
  if (!object || depth > 4) return null;
  const required = new Set(object.required || []);
  const list = el("ul", { class: "schema" });
  for (const [name, prop] of Object.entries(object.properties)) {
    const described = rules(prop.anyOf ? prop.anyOf.find((p) => p.type !== "null") || prop : prop);
    list.append(
      el(
        "li",
        {},
        el("code", { class: required.has(name) ? "required" : "" }, name),
        " (",
        typeLabel(prop),
        required.has(name) ? ", required" : "",
        ")",
        described ? el("span", { class: "rules" }, ` ${described}`) : null,
        prop.description ? el("span", { class: "rules" }, ` ${prop.description}`) : null,
        schemaTree(prop, depth + 1),
      ),
    );
  }
  return list;
}

function schemaBlock(schema) {
  return el("div", {}, el("p", {}, "Type: ", typeLabel(schema)), schemaTree(schema));
}

function parameters(op) {
  if (!op.parameters) return null;
  const list = el("ul", { class: "schema" });
  for (const param of op.parameters) {
    const described = rules(param.schema || {});
    list.append(
      el(
        "li",
        {},
        el("code", {}, param.name),
        ` (${param.in}, `,
        typeLabel(param.schema),
        param.required ? ", required)" : ")",
        described ? el("span", { class: "rules" }, ` ${described}`) : null,
        param.description ? el("span", { class: "rules" }, ` ${param.description}`) : null,
      ),
    );
  }
  return el("section", {}, el("h3", {}, "Parameters"), list);
}

function requestBody(op) {
  const content = op.requestBody?.content;
  if (!content) return null;
  const [type, media] = Object.entries(content)[0];
  const optional = op.requestBody.required ? "" : " (optional)";
  return el("section", {}, el("h3", {}, `Body: ${type}${optional}`), schemaBlock(media.schema));
}

function answers(op, doc) {
  const list = el("dl", { class: "answers" });
  for (const [status, answer] of Object.entries(op.responses)) {
    const resolved = answer.$ref ? doc.components.responses[refName(answer.$ref)] : answer;
    list.append(el("dt", {}, `${status} ${resolved.description || ""}`));
    const content = resolved.content;
    if (content) {
      const [type, media] = Object.entries(content)[0];
      list.append(el("dd", {}, el("span", { class: "rules" }, type), schemaBlock(media.schema)));
    }
  }
  return el("section", {}, el("h3", {}, "Answers"), list);
}

function security(op) {
  const names = (op.security || []).flatMap((item) => Object.keys(item));
  return el("p", {}, "Authorization: ", names.length ? names.join(" or ") : "none");
}

function operationView(path, method, op, doc) {
  return el(
    "details",
    { class: "op" },
    el(
      "summary",
      {},
      el("span", { class: `method method-${method}` }, method),
      el("span", { class: "path" }, path),
      el("span", { class: "summary" }, op.summary || ""),
    ),
    el("div", {}, security(op), parameters(op), requestBody(op), answers(op, doc)),
  );
}

function render(doc) {
  const root = document.getElementById("docs");
  root.replaceChildren();
  root.append(el("p", {}, doc.info.description || ""));
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags || ["Other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operationView(path, method, op, doc));
    }
  }
  for (const [tag, views] of byTag) {
    root.append(el("section", {}, el("h2", {}, tag), ...views));
  }
  const objects = el("section", {}, el("h2", {}, "Objects"));
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    objects.append(el("h3", { id: `schema-${name}` }, name), schemaTree(schema));
  }
  const schemes = el("section", {}, el("h2", {}, "Authorization"));
  for (const [name, scheme] of Object.entries(doc.components.securitySchemes)) {
    schemes.append(el("p", {}, el("code", {}, name), `: ${scheme.description || scheme.scheme}`));
  }
  root.append(objects, schemes);
  root.setAttribute("aria-busy", "false");
}

async function main() {
  const root = document.getElementById("docs");
  try {
    const answer = await fetch("/api/openapi.json");
    if (!answer.ok) throw new Error(`the document answered ${answer.status}`);
    render(await answer.json());
  } catch (error) {
    root.replaceChildren(el("p", { role: "alert" }, `Could not load the API description: ${error.message}`));
    root.setAttribute("aria-busy", "false");
  }
}

main();
