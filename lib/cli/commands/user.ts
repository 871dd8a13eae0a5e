import type { Command } from 'commander';
import QRCode from 'qrcode';
import type { CliContext } from '../context.ts';
import { formatTime, printFields, printJson, printTable } from '../format.ts';
import { adminApi } from './admin.ts';
import { action, collect, parseAssignments } from './shared.ts';

export interface UserPutOptions {
  email?: string;
  phone?: string;
  name?: string;
  claim?: string[];
  userCode?: string;
}

/** The PUT body: `--claim` pairs, then the named options. */
export const buildUserBody = (o: UserPutOptions): Record<string, unknown> => ({
  ...parseAssignments(o.claim, '--claim'),
  ...(o.email !== undefined ? { email: o.email } : {}),
  ...(o.phone !== undefined ? { phone_number: o.phone } : {}),
  ...(o.name !== undefined ? { name: o.name } : {}),
  ...(o.userCode !== undefined ? { user_code: o.userCode } : {}),
});

interface Ticket {
  ticket: string;
  expires_in: number;
  enrollment_uri: string;
}

interface ShieldedUser {
  report_shields?: { client_id: string; until: number }[];
}

interface DeviceList {
  devices: { device_id: string; name?: string; created_at?: number; push?: { type?: string } }[];
}

export const registerUser = (program: Command, ctx: CliContext): void => {
  const user = program.command('user').description('users, their enrollment tickets and devices');

  user
    .command('put')
    .description('create a user or merge claims into it')
    .argument('<sub>')
    .option('--email <email>', 'email')
    .option('--phone <e164>', 'phone_number (E.164, e.g. +15551234567)')
    .option('--name <name>', 'name')
    .option('--claim <key=value>', 'another standard claim, e.g. email_verified=true (repeatable)', collect)
    .option('--user-code <code>', "the user's CIBA user_code")
    .action(
      action<UserPutOptions>(ctx, async ({ g, args, opts }) => {
        const u = await adminApi(ctx, g).put(['users', args[0]!], buildUserBody(opts));
        return g.json ? printJson(ctx, u) : printFields(ctx, u);
      }),
    );

  user
    .command('get')
    .description('show a user')
    .argument('<sub>')
    .action(
      action(ctx, async ({ g, args }) => {
        const u = await adminApi(ctx, g).get('users', args[0]!);
        return g.json ? printJson(ctx, u) : printFields(ctx, u);
      }),
    );

  user
    .command('delete')
    .description('delete a user with their devices, passkeys and pending requests (erasure)')
    .argument('<sub>')
    .action(
      action(ctx, async ({ g, args }) => {
        await adminApi(ctx, g).delete('users', args[0]!);
        if (!g.json) ctx.stdout(`deleted user ${args[0]} with their devices and pending requests\n`);
      }),
    );

  user
    .command('enroll-link')
    .description('issue a one-time enrollment ticket for a new device')
    .argument('<sub>')
    .option('--qr', 'also print the enrollment URI as a QR code')
    .action(
      action<{ qr?: boolean }>(ctx, async ({ g, args, opts }) => {
        const t = await adminApi(ctx, g).post<Ticket>(['users', args[0]!, 'enrollment-tickets'], {});
        if (g.json) return printJson(ctx, t);
        printFields(ctx, { ticket: t.ticket, enrollment_uri: t.enrollment_uri, expires_in: t.expires_in });
        if (opts.qr && t.enrollment_uri) {
          ctx.stdout(`\n${await QRCode.toString(t.enrollment_uri, { type: 'terminal', small: true })}\n`);
        }
        ctx.stdout(`\nEnroll the terminal authenticator with:\n  npx ciba device enroll --ticket ${t.ticket}\n`);
      }),
    );

  user
    .command('devices')
    .description("list a user's devices")
    .argument('<sub>')
    .action(
      action(ctx, async ({ g, args }) => {
        const list = await adminApi(ctx, g).get<DeviceList>('users', args[0]!, 'devices');
        if (g.json) return printJson(ctx, list);
        if (!list.devices?.length) return void ctx.stdout('no devices\n');
        printTable(
          ctx,
          ['DEVICE_ID', 'NAME', 'ENROLLED', 'PUSH'],
          list.devices.map((d) => [d.device_id, d.name, formatTime(d.created_at), d.push?.type ?? '']),
        );
      }),
    );

  user
    .command('revoke-device')
    .description('revoke a device')
    .argument('<sub>')
    .argument('<device_id>')
    .action(
      action(ctx, async ({ g, args }) => {
        await adminApi(ctx, g).delete('users', args[0]!, 'devices', args[1]!);
        if (!g.json) ctx.stdout(`revoked device ${args[1]}\n`);
      }),
    );

  user
    .command('shields')
    .description('the clients this user reported, kept from asking them until the time shown')
    .argument('<sub>')
    .action(
      action(ctx, async ({ g, args }) => {
        const shields = (await adminApi(ctx, g).get<ShieldedUser>('users', args[0]!)).report_shields ?? [];
        if (g.json) return printJson(ctx, { report_shields: shields });
        if (shields.length === 0) return void ctx.stdout('no report shields\n');
        printTable(
          ctx,
          ['CLIENT_ID', 'UNTIL'],
          shields.map((s) => [s.client_id, formatTime(s.until)]),
        );
      }),
    );

  user
    .command('lift-shield')
    .description('let a client this user reported ask them again before its shield ends')
    .argument('<sub>')
    .argument('<client_id>')
    .action(
      action(ctx, async ({ g, args }) => {
        await adminApi(ctx, g).delete('users', args[0]!, 'shields', args[1]!);
        if (!g.json) ctx.stdout(`lifted the report shield of ${args[1]} for ${args[0]}\n`);
      }),
    );

  user
    .command('reset-passkey')
    .description("remove a device's passkey (lost or replaced authenticator); the device then registers a new one")
    .argument('<sub>')
    .argument('<device_id>')
    .action(
      action(ctx, async ({ g, args }) => {
        await adminApi(ctx, g).delete('users', args[0]!, 'devices', args[1]!, 'passkey');
        if (!g.json) ctx.stdout(`reset the passkey of device ${args[1]}\n`);
      }),
    );
};
