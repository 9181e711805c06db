// Small DOM helpers for building scene views.

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  children: (Node | string)[] = [],
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

/** Researcher-provided HTML (trusted: it comes from the experiment definition). */
export function html(markup: string, attrs: Record<string, string> = {}): HTMLDivElement {
  const node = el("div", attrs);
  node.innerHTML = markup;
  return node;
}

/** The answers of every named input inside `root`, as the forms table records them. */
export function collectAnswers(root: HTMLElement): Record<string, string | number | boolean | string[] | null> {
  const answers: Record<string, string | number | boolean | string[] | null> = {};
  const fields = root.querySelectorAll<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>(
    "input[name], select[name], textarea[name]",
  );
  const checkboxGroups = new Map<string, HTMLInputElement[]>();
  for (const field of fields) {
    if (field instanceof HTMLInputElement && field.type === "checkbox") {
      const group = checkboxGroups.get(field.name) ?? [];
      group.push(field);
      checkboxGroups.set(field.name, group);
    } else if (field instanceof HTMLInputElement && field.type === "radio") {
      if (field.checked) answers[field.name] = field.value;
      else if (!(field.name in answers)) answers[field.name] = null;
    } else if (field instanceof HTMLSelectElement && field.multiple) {
      answers[field.name] = Array.from(field.selectedOptions, (o) => o.value);
    } else {
      answers[field.name] = field.value;
    }
  }
  for (const [name, group] of checkboxGroups) {
    // One checkbox is a yes/no answer; several with one name are a multiple choice.
    answers[name] = group.length === 1 ? group[0]!.checked : group.filter((c) => c.checked).map((c) => c.value);
  }
  return answers;
}
