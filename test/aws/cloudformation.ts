import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A small CloudFormation: reads the stacks of a cloud assembly (cdk.out), orders each stack's resources by their
 * references and `DependsOn`, resolves the intrinsic functions (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select,
 * Fn::Split, Fn::ImportValue, Fn::If and the condition functions) to consistent fake names and ARNs, and hands each
 * resource to the provider of its type (the AWS-shape harness: tables on dynalite, functions in workers, queues,
 * keys, rules, custom resources through their handlers). Updates and deletes go through the same providers, so a
 * custom resource sees the Create/Update/Delete events CloudFormation would send.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Template = {
  Resources: Record<string, TemplateResource>;
  Outputs?: Record<string, { Value: Json; Export?: { Name: Json } }>;
  Parameters?: Record<string, { Default?: Json }>;
  Conditions?: Record<string, Json>;
};
export interface TemplateResource {
  Type: string;
  Properties?: Record<string, Json>;
  DependsOn?: string | string[];
  Condition?: string;
  DeletionPolicy?: string;
}

export interface StackArtifact {
  name: string;
  template: Template;
  /** Stacks this one depends on (deployed first). */
  dependencies: string[];
}

/** The stacks of a cloud assembly in deployment order, and where its assets are. */
export interface CloudAssembly {
  dir: string;
  stacks: StackArtifact[];
}

export const readAssembly = (dir: string): CloudAssembly => {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
    artifacts: Record<string, { type: string; properties?: { templateFile?: string }; dependencies?: string[] }>;
  };
  const stacks = Object.entries(manifest.artifacts)
    .filter(([, a]) => a.type === 'aws:cloudformation:stack')
    .map(([name, a]) => ({
      name,
      template: JSON.parse(readFileSync(join(dir, a.properties!.templateFile!), 'utf8')) as Template,
      dependencies: (a.dependencies ?? []).filter((d) => manifest.artifacts[d]?.type === 'aws:cloudformation:stack'),
    }));
  const ordered: StackArtifact[] = [];
  const visit = (stack: StackArtifact) => {
    if (ordered.includes(stack)) return;
    for (const dep of stack.dependencies) visit(stacks.find((s) => s.name === dep)!);
    ordered.push(stack);
  };
  for (const stack of stacks) visit(stack);
  return { dir, stacks: ordered };
};

export interface DeployedResource {
  stack: string;
  logicalId: string;
  type: string;
  /** The properties with every intrinsic function resolved. */
  properties: Record<string, Json>;
  /** What `Ref` answers. */
  ref: string;
  /** What `Fn::GetAtt` answers, by attribute name. */
  attributes: Record<string, Json>;
}

export interface ResourceContext {
  account: string;
  region: string;
  partition: string;
  stack: string;
  logicalId: string;
  /** A physical name as CloudFormation makes one: `{stack}-{logicalId}-{random}`, within `max` characters. */
  generatedName(max?: number): string;
}

/** What a provider does with a resource of its type. */
export interface ResourceProvider {
  create(
    props: Record<string, Json>,
    ctx: ResourceContext,
  ): Promise<{ ref: string; attributes?: Record<string, Json> }>;
  /** Default: the old resource is deleted and a new one created (a replacement). */
  update?(
    current: DeployedResource,
    props: Record<string, Json>,
    ctx: ResourceContext,
  ): Promise<{ ref: string; attributes?: Record<string, Json> }>;
  delete?(current: DeployedResource, ctx: ResourceContext): Promise<void>;
}

const UNRESOLVED = Symbol('unresolved');

/** CloudFormation's generated names: the stack name, the logical id and 12 random characters. */
const generatedName = (stack: string, logicalId: string, max = 64): string => {
  const suffix = randomBytes(9)
    .toString('base64url')
    .replace(/[^A-Za-z0-9]/g, 'X')
    .slice(0, 12)
    .toUpperCase();
  const room = max - suffix.length - 2;
  const head = `${stack}-${logicalId}`;
  return `${head.length > room ? head.slice(0, room) : head}-${suffix}`;
};

const refsOf = (value: Json, out: Set<string>): Set<string> => {
  if (Array.isArray(value)) for (const v of value) refsOf(v, out);
  else if (value && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === 'Ref' && typeof v === 'string') out.add(v);
      else if (key === 'Fn::GetAtt') out.add(Array.isArray(v) ? String(v[0]) : String(v).split('.')[0]!);
      else if (key === 'Fn::Sub') {
        const text = Array.isArray(v) ? String(v[0]) : String(v);
        for (const m of text.matchAll(/\$\{([^!}][^}]*)\}/g)) out.add(m[1]!.split('.')[0]!);
        if (Array.isArray(v)) refsOf(v[1]!, out);
      } else refsOf(v, out);
    }
  }
  return out;
};

export class CloudFormation {
  readonly account: string;
  readonly region: string;
  readonly partition = 'aws';
  readonly #providers: Record<string, ResourceProvider>;
  readonly #fallback: ResourceProvider;
  /** Deployed resources by stack, then logical id. */
  readonly stacks = new Map<string, Map<string, DeployedResource>>();
  readonly templates = new Map<string, Template>();
  readonly exports = new Map<string, Json>();

  constructor(options: { account: string; region: string; providers: Record<string, ResourceProvider> }) {
    this.account = options.account;
    this.region = options.region;
    this.#providers = options.providers;
    this.#fallback = { create: async (_, ctx) => ({ ref: ctx.generatedName() }) };
  }

  #ctx(stack: string, logicalId: string): ResourceContext {
    return {
      account: this.account,
      region: this.region,
      partition: this.partition,
      stack,
      logicalId,
      generatedName: (max) => generatedName(stack, logicalId, max),
    };
  }

  #providerOf(type: string): ResourceProvider {
    if (type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource') {
      return this.#providers['Custom::*'] ?? this.#fallback;
    }
    return this.#providers[type] ?? this.#fallback;
  }

  /** Every deployed resource of a type, across stacks. */
  resourcesOf(type: string): DeployedResource[] {
    return [...this.stacks.values()].flatMap((m) => [...m.values()].filter((r) => r.type === type));
  }

  resource(stack: string, logicalId: string): DeployedResource | undefined {
    return this.stacks.get(stack)?.get(logicalId);
  }

  /** Creates the stack, or updates it to `template` (create, update, replace and delete, as CloudFormation does). */
  async deploy(stack: string, template: Template): Promise<void> {
    // CloudFormation quotas: 500 resources per stack, a template of at most 1 MB (from S3, as CDK deploys it).
    const count = Object.keys(template.Resources).length;
    if (count > 500) throw new Error(`${stack}: ${count} resources, over CloudFormation's 500 per stack`);
    const size = Buffer.byteLength(JSON.stringify(template));
    if (size > 1_000_000) throw new Error(`${stack}: the template is ${size} bytes, over CloudFormation's 1 MB`);
    const previous = this.stacks.get(stack) ?? new Map<string, DeployedResource>();
    const previousTemplate = this.templates.get(stack);
    const next = new Map<string, DeployedResource>();
    this.stacks.set(stack, next);
    this.templates.set(stack, template);
    const conditions = new Map<string, boolean>();
    const resolveCondition = (name: string): boolean => {
      if (!conditions.has(name)) {
        conditions.set(name, Boolean(this.#resolve(stack, template, template.Conditions![name]!, conditions)));
      }
      return conditions.get(name)!;
    };
    const active = Object.entries(template.Resources).filter(
      ([, r]) => r.Type !== 'AWS::CDK::Metadata' && (!r.Condition || resolveCondition(r.Condition)),
    );
    const ids = new Set(active.map(([id]) => id));
    const order: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (id: string) => {
      if (state.get(id) === 'done') return;
      if (state.get(id) === 'visiting') throw new Error(`${stack}: circular dependency through ${id}`);
      state.set(id, 'visiting');
      const r = template.Resources[id]!;
      const deps = new Set([...refsOf(r.Properties ?? {}, new Set()), ...[r.DependsOn ?? []].flat()]);
      for (const dep of deps) if (ids.has(dep)) visit(dep);
      state.set(id, 'done');
      order.push(id);
    };
    for (const id of ids) visit(id);

    for (const id of order) {
      const r = template.Resources[id]!;
      const props = this.#resolve(stack, template, r.Properties ?? {}, conditions) as Record<string, Json>;
      const provider = this.#providerOf(r.Type);
      const old = previous.get(id);
      const ctx = this.#ctx(stack, id);
      let out: { ref: string; attributes?: Record<string, Json> };
      if (old && old.type === r.Type) {
        if (JSON.stringify(old.properties) === JSON.stringify(props)) {
          next.set(id, old);
          continue;
        }
        if (provider.update) out = await provider.update(old, props, ctx);
        else {
          await provider.delete?.(old, ctx);
          out = await provider.create(props, ctx);
        }
      } else {
        if (old) await this.#providerOf(old.type).delete?.(old, ctx);
        out = await provider.create(props, ctx);
      }
      next.set(id, {
        stack,
        logicalId: id,
        type: r.Type,
        properties: props,
        ref: out.ref,
        attributes: out.attributes ?? {},
      });
    }
    // Removed resources go last, in reverse order of their creation; retained ones just leave the template.
    for (const [id, old] of [...previous].reverse()) {
      if (next.has(id)) continue;
      const policy = previousTemplate?.Resources[id]?.DeletionPolicy;
      if (policy === 'Retain' || policy === 'RetainExceptOnCreate') continue;
      await this.#providerOf(old.type).delete?.(old, this.#ctx(stack, id));
    }
    for (const output of Object.values(template.Outputs ?? {})) {
      if (!output.Export) continue;
      const exportName = this.#resolve(stack, template, output.Export.Name, conditions) as string;
      this.exports.set(exportName, this.#resolve(stack, template, output.Value, conditions));
    }
  }

  /** Deletes the stack's resources in reverse order (retained ones stay). */
  async destroy(stack: string): Promise<void> {
    const template = this.templates.get(stack);
    for (const [id, old] of [...(this.stacks.get(stack) ?? new Map<string, DeployedResource>())].reverse()) {
      const policy = template?.Resources[id]?.DeletionPolicy;
      if (policy === 'Retain') continue;
      await this.#providerOf(old.type).delete?.(old, this.#ctx(stack, id));
    }
    this.stacks.delete(stack);
  }

  /** Resolves the intrinsic functions of a value in a stack's context. */
  resolve(stack: string, value: Json): Json {
    return this.#resolve(stack, this.templates.get(stack)!, value, new Map());
  }

  #pseudo(stack: string, name: string): Json | typeof UNRESOLVED {
    switch (name) {
      case 'AWS::AccountId':
        return this.account;
      case 'AWS::Region':
        return this.region;
      case 'AWS::Partition':
        return this.partition;
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return stack;
      case 'AWS::StackId':
        return `arn:aws:cloudformation:${this.region}:${this.account}:stack/${stack}/${randomUUID()}`;
      default:
        return UNRESOLVED;
    }
  }

  #ref(stack: string, template: Template, name: string): Json {
    const pseudo = this.#pseudo(stack, name);
    if (pseudo !== UNRESOLVED) return pseudo;
    const parameter = template.Parameters?.[name];
    if (parameter) {
      // CDK's bootstrap version parameter reads SSM at deploy time: a current bootstrap stack.
      if (name === 'BootstrapVersion') return '30';
      return parameter.Default ?? null;
    }
    const resource = this.stacks.get(stack)?.get(name);
    if (!resource) throw new Error(`${stack}: Ref to ${name}, which is not deployed (yet)`);
    return resource.ref;
  }

  #getAtt(stack: string, logicalId: string, attribute: string): Json {
    const resource = this.stacks.get(stack)?.get(logicalId);
    if (!resource) throw new Error(`${stack}: Fn::GetAtt on ${logicalId}, which is not deployed (yet)`);
    const value = resource.attributes[attribute];
    if (value === undefined) throw new Error(`${stack}: ${resource.type} ${logicalId} has no attribute ${attribute}`);
    return value;
  }

  #resolve(stack: string, template: Template, value: Json, conditions: Map<string, boolean>): Json {
    const r = (v: Json): Json => this.#resolve(stack, template, v, conditions);
    if (Array.isArray(value)) {
      return value.map(r).filter((v) => v !== (NO_VALUE as unknown as Json));
    }
    if (!value || typeof value !== 'object') return value;
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const [fn] = keys as [string];
      const arg = value[fn]!;
      switch (fn) {
        case 'Ref':
          if (arg === 'AWS::NoValue') return NO_VALUE as unknown as Json;
          return this.#ref(stack, template, String(arg));
        case 'Fn::GetAtt': {
          const [id, ...attr] = Array.isArray(arg) ? (arg as string[]) : String(arg).split('.');
          return this.#getAtt(stack, id!, attr.join('.'));
        }
        case 'Fn::Join': {
          const [sep, parts] = arg as [string, Json[]];
          return (r(parts) as Json[]).map(String).join(sep);
        }
        case 'Fn::Sub': {
          const [text, vars] = Array.isArray(arg)
            ? [String(arg[0]), (arg[1] ?? {}) as Record<string, Json>]
            : [String(arg), {}];
          return text.replace(/\$\{([^}]+)\}/g, (_whole, name: string) => {
            if (name.startsWith('!')) return `\${${name.slice(1)}}`;
            if (name in vars) return String(r(vars[name]!));
            const pseudo = this.#pseudo(stack, name);
            if (pseudo !== UNRESOLVED) return String(pseudo);
            const [id, ...attr] = name.split('.');
            return String(attr.length > 0 ? this.#getAtt(stack, id!, attr.join('.')) : this.#ref(stack, template, id!));
          });
        }
        case 'Fn::Select': {
          const [index, list] = arg as [Json, Json];
          return (r(list) as Json[])[Number(r(index))]!;
        }
        case 'Fn::Split': {
          const [sep, text] = arg as [string, Json];
          return String(r(text)).split(sep);
        }
        case 'Fn::ImportValue': {
          const name = String(r(arg));
          if (!this.exports.has(name)) throw new Error(`${stack}: Fn::ImportValue ${name}: no such export`);
          return this.exports.get(name)!;
        }
        case 'Fn::If': {
          const [condition, yes, no] = arg as [string, Json, Json];
          const holds = conditions.get(condition) ?? Boolean(r(template.Conditions?.[condition] ?? false));
          return r(holds ? yes : no);
        }
        case 'Fn::Equals': {
          const [a, b] = (arg as Json[]).map(r);
          return JSON.stringify(a) === JSON.stringify(b);
        }
        case 'Fn::Not':
          return !r((arg as Json[])[0]!);
        case 'Fn::And':
          return (arg as Json[]).every((v) => Boolean(r(v)));
        case 'Fn::Or':
          return (arg as Json[]).some((v) => Boolean(r(v)));
        case 'Fn::Contains': {
          const [list, item] = arg as [Json, Json];
          return (r(list) as Json[]).includes(r(item));
        }
        case 'Condition':
          return conditions.get(String(arg)) ?? Boolean(r(template.Conditions?.[String(arg)] ?? false));
        case 'Fn::Base64':
          return Buffer.from(String(r(arg))).toString('base64');
        default:
          if (fn.startsWith('Fn::')) throw new Error(`${stack}: ${fn} is not supported by the harness`);
      }
    }
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) {
      const resolved = r(v);
      if (resolved !== (NO_VALUE as unknown as Json)) out[k] = resolved;
    }
    return out;
  }
}

const NO_VALUE = Symbol('AWS::NoValue');
