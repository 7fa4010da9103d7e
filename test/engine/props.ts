// Property values as they travel between the Node SDK, the engine and a provider: plain JSON plus the
// "special signature" objects of the Pulumi wire format (sdk/nodejs/runtime/rpc.ts, and on the Go side
// sdk/go/common/resource/plugin/rpc.go MarshalProperties/UnmarshalProperties). The stand-in keeps every
// property map in this wire form, in memory and (with secrets encrypted) in the state file.

/** The unknown-value sentinel (rpc.ts `unknownValue`, plugin/rpc.go `UnknownStringValue`). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
/** Key of the signature property of special objects (rpc.ts `specialSigKey`). */
export const SIG_KEY = "4dabf18193072939515e22adb298388d";
/** Signature of a secret (rpc.ts `specialSecretSig`). */
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
/** Signature of a resource reference (rpc.ts `specialResourceSig`). */
export const RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e";

export type PropertyMap = Record<string, unknown>;

export function isObject(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function isSecret(v: unknown): v is { [SIG_KEY]: typeof SECRET_SIG; value: unknown } {
    return isObject(v) && v[SIG_KEY] === SECRET_SIG;
}

export function makeSecret(v: unknown): unknown {
    return isSecret(v) ? v : { [SIG_KEY]: SECRET_SIG, value: v };
}

export function containsSecrets(v: unknown): boolean {
    if (isSecret(v)) return true;
    if (Array.isArray(v)) return v.some(containsSecrets);
    if (isObject(v)) return Object.values(v).some(containsSecrets);
    return false;
}

export function containsUnknowns(v: unknown): boolean {
    if (v === UNKNOWN) return true;
    if (Array.isArray(v)) return v.some(containsUnknowns);
    if (isObject(v)) return Object.values(v).some(containsUnknowns);
    return false;
}

/**
 * What the engine sends to a provider that answered Configure with acceptSecrets=false and
 * acceptResources=false, i.e. the Node dynamic-provider host:
 * plugin/rpc.go MarshalPropertyValue with KeepSecrets=false drops the secret wrapper and sends the
 * plaintext; with KeepResources=false a resource reference is sent as its ID (custom resource, ID known)
 * or its URN (component). Unknowns are kept as the sentinel string (KeepUnknowns = preview).
 */
export function stripForProvider(v: unknown): unknown {
    if (isSecret(v)) return stripForProvider(v.value);
    if (Array.isArray(v)) return v.map(stripForProvider);
    if (isObject(v)) {
        if (v[SIG_KEY] === RESOURCE_SIG) {
            const id = v["id"];
            if (typeof id === "string") return id === "" ? UNKNOWN : id;
            return v["urn"];
        }
        const out: PropertyMap = {};
        for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = stripForProvider(x);
        return out;
    }
    return v;
}

export function stripMap(m: PropertyMap): PropertyMap {
    const r = stripForProvider(m);
    return isObject(r) ? r : {};
}

/**
 * Engine `annotateSecrets(outs, ins)` (sdk/go/common/resource/plugin/provider_plugin.go): because the provider
 * could not be given secrets, re-mark as secret every top-level output whose same-named input contained a
 * secret; when both values are objects, recurse instead of tainting the whole object. Mutates `outs`.
 */
export function annotateSecrets(outs: PropertyMap | undefined, ins: PropertyMap | undefined): void {
    if (!outs || !ins) return;
    for (const [key, inValue] of Object.entries(ins)) {
        if (!(key in outs)) continue;
        const outValue = outs[key];
        const inPlain = isSecret(inValue) ? inValue.value : inValue;
        if (isObject(outValue) && !isSecret(outValue) && isObject(inValue) && !isSecret(inValue) && inValue[SIG_KEY] === undefined) {
            annotateSecrets(outValue, inValue);
        } else if (!isSecret(outValue) && (isSecret(inValue) || containsSecrets(inPlain))) {
            outs[key] = makeSecret(outValue);
        }
    }
}

/** Structural equality of wire values (PropertyValue.DeepEquals: a secret equals only a secret of an equal value). */
export function deepEquals(a: unknown, b: unknown): boolean {
    if (a === b) return true;
    if (Array.isArray(a) || Array.isArray(b)) {
        if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
        return a.every((x, i) => deepEquals(x, b[i]));
    }
    if (isObject(a) && isObject(b)) {
        const ka = Object.keys(a).filter((k) => a[k] !== undefined);
        const kb = Object.keys(b).filter((k) => b[k] !== undefined);
        if (ka.length !== kb.length) return false;
        return ka.every((k) => k in b && deepEquals(a[k], b[k]));
    }
    return false;
}

/** Top-level keys whose values differ (the keys the CLI lists under a `~ update`). */
export function changedKeys(olds: PropertyMap, news: PropertyMap): string[] {
    const keys = new Set([...Object.keys(olds), ...Object.keys(news)]);
    return [...keys].filter((k) => !deepEquals(olds[k], news[k])).sort();
}

export function clone<T>(v: T): T {
    return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** Render a wire value the way the CLI prints it: secrets as "[secret]", unknowns as "[unknown]". */
export function display(v: unknown): unknown {
    if (isSecret(v)) return "[secret]";
    if (v === UNKNOWN) return "[unknown]";
    if (Array.isArray(v)) return v.map(display);
    if (isObject(v)) {
        if (v[SIG_KEY] === RESOURCE_SIG) return v["urn"];
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, display(x)]));
    }
    return v;
}
