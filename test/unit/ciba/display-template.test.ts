import { describe, expect, it } from 'vitest';
import { OAuthError } from '../../../lib/errors.ts';
import { validateAuthorizationDetailsTypes } from '../../../lib/oauth/authorization-details.ts';
import {
  checkDisplayTemplate,
  humanize,
  MAX_DISPLAY_FIELDS,
  renderDetailDisplays,
} from '../../../lib/oauth/display-template.ts';

const PAYMENT_SCHEMA = {
  type: 'object',
  required: ['type', 'instructedAmount', 'creditorName'],
  properties: {
    type: { const: 'payment_initiation' },
    creditorName: { type: 'string', maxLength: 140 },
    remittance: { type: 'string' },
    instructedAmount: {
      type: 'object',
      properties: { currency: { type: 'string' }, amount: { type: 'string' } },
    },
    debtorAccount: { $ref: '#/$defs/account' },
    lines: { type: 'array', items: { type: 'object', properties: { text: { type: 'string' } } } },
  },
  $defs: { account: { type: 'object', properties: { iban: { type: 'string' } } } },
};

const PAYMENT_DISPLAY = {
  title: 'Pay {instructedAmount.amount} {instructedAmount.currency} to {creditorName}',
  fields: [
    { label: 'From account', value: '{debtorAccount.iban}' },
    { label: 'Reference', value: '{remittance}' },
    { label: 'First line', value: '{lines.0.text}' },
  ],
};

const refusal = (run: () => unknown): { error: string; description: string } => {
  try {
    run();
  } catch (error) {
    if (error instanceof OAuthError) return { error: error.error, description: error.message };
    throw error;
  }
  throw new Error('not refused');
};

describe('display templates: checked when the tenant registers the type', () => {
  it('accepts placeholders the schema declares, through properties, local $ref and array items', () => {
    expect(checkDisplayTemplate('payment_initiation', PAYMENT_SCHEMA, PAYMENT_DISPLAY)).toEqual(PAYMENT_DISPLAY);
    expect(() =>
      validateAuthorizationDetailsTypes({ payment_initiation: { ...PAYMENT_SCHEMA, display: PAYMENT_DISPLAY } }),
    ).not.toThrow();
  });

  it.each([
    ['a path the schema does not declare', { title: 'Pay {creditorNme}' }, /\{creditorNme\} is not/],
    ['a path that names an object', { title: 'Pay {instructedAmount}' }, /\{instructedAmount\} is not/],
    ['a path below a scalar', { title: 'Pay {creditorName.first}' }, /is not/],
    ['a stray brace', { title: 'Pay {creditorName} {' }, /braces only enclose placeholders/],
    ['a placeholder with logic', { title: 'Pay {creditorName | upper}' }, /braces only enclose placeholders/],
    ['a label with a placeholder', { title: 'Pay', fields: [{ label: '{creditorName}', value: 'x' }] }, /plain text/],
    ['a bidi override in the literal text', { title: 'Pay \u202Eto' }, /format, invisible/],
    ['two spaces in a row', { title: 'Pay  {creditorName}' }, /two white-space characters/],
    ['an unknown member', { title: 'Pay', subtitle: 'x' }, /subtitle/],
    ['no title', { fields: [] }, /title/],
    [
      'more than 10 fields',
      { title: 'Pay', fields: Array.from({ length: MAX_DISPLAY_FIELDS + 1 }, () => ({ label: 'A', value: 'b' })) },
      /at most 10 fields/,
    ],
  ])('refuses %s with invalid_request', (_, display, why) => {
    const answer = refusal(() =>
      validateAuthorizationDetailsTypes({ payment_initiation: { ...PAYMENT_SCHEMA, display } }),
    );
    expect(answer.error).toBe('invalid_request');
    expect(answer.description).toMatch(/^authorization_details_types\.payment_initiation\.display/);
    expect(answer.description).toMatch(why);
  });

  it('takes the template out of the schema before compiling it: elements are validated as before', () => {
    const types = validateAuthorizationDetailsTypes({
      payment_initiation: { ...PAYMENT_SCHEMA, additionalProperties: false, display: PAYMENT_DISPLAY },
    });
    expect(() =>
      renderDetailDisplays(
        [{ type: 'payment_initiation', creditorName: 'ACME', instructedAmount: { amount: '1', currency: 'EUR' } }],
        types,
      ),
    ).not.toThrow();
  });
});

describe('display templates: rendered at bc-authorize', () => {
  const types = { payment_initiation: { ...PAYMENT_SCHEMA, display: PAYMENT_DISPLAY } };
  const payment = {
    type: 'payment_initiation',
    creditorName: 'Café Zeit',
    remittance: 'Invoice 2041',
    instructedAmount: { currency: 'EUR', amount: '12.50' },
    debtorAccount: { iban: 'DE02 1203 0000 0000 2020 51' },
    lines: [{ text: 'Two coffees' }],
  };

  it('fills the title and the fields in order, from the element', () => {
    expect(renderDetailDisplays([payment], types)).toEqual([
      {
        type: 'payment_initiation',
        title: 'Pay 12.50 EUR to Café Zeit',
        fields: [
          { label: 'From account', value: 'DE02 1203 0000 0000 2020 51' },
          { label: 'Reference', value: 'Invoice 2041' },
          { label: 'First line', value: 'Two coffees' },
        ],
      },
    ]);
  });

  it('shows an absent or empty value as an em dash, and leaves out a field that is nothing but one', () => {
    const { remittance: _, debtorAccount: __, ...bare } = payment;
    const [display] = renderDetailDisplays([{ ...bare, creditorName: '' }], {
      payment_initiation: {
        ...PAYMENT_SCHEMA,
        display: {
          ...PAYMENT_DISPLAY,
          fields: [...PAYMENT_DISPLAY.fields, { label: 'Note', value: 'Ref. {remittance}' }],
        },
      },
    });
    expect(display!.title).toBe('Pay 12.50 EUR to —');
    expect(display!.fields).toEqual([
      { label: 'First line', value: 'Two coffees' },
      { label: 'Note', value: 'Ref. —' },
    ]);
  });

  it.each([
    ['a bidi override', 'ACME \u202Eevil'],
    ['a zero-width space', 'AC\u200BME'],
    ['a line break', 'ACME\nLtd'],
    ['an over-long value', 'x'.repeat(300)],
  ])('refuses a rendered value with %s (invalid_authorization_details)', (_, creditorName) => {
    const answer = refusal(() =>
      renderDetailDisplays([{ ...payment, creditorName: 'ok', remittance: creditorName }], types),
    );
    expect(answer.error).toBe('invalid_authorization_details');
    expect(answer.description).toMatch(
      /^authorization_details\[0\] \(payment_initiation\): the value of display field 2/,
    );
  });

  it('refuses a title that renders unsafe text', () => {
    const answer = refusal(() => renderDetailDisplays([{ ...payment, creditorName: 'Bob\u202E' }], types));
    expect(answer.error).toBe('invalid_authorization_details');
    expect(answer.description).toMatch(/the display title contains/);
  });

  it('renders a type without a template generically: the type as title, every member as a labelled value', () => {
    const [display] = renderDetailDisplays(
      [
        {
          type: 'account_information',
          accounts: ['DE1', 'DE2'],
          access: { balances: true, transactions: { days: 90 } },
          note: null,
        },
      ],
      { account_information: { type: 'object' } },
    );
    expect(display).toEqual({
      type: 'account_information',
      title: 'Account information',
      fields: [
        { label: 'Accounts', value: 'DE1, DE2' },
        { label: 'Access › Balances', value: 'true' },
        { label: 'Access › Transactions › Days', value: '90' },
        { label: 'Note', value: '—' },
      ],
    });
  });

  it('refuses a generic rendering that holds unsafe text, in a value or in a member name', () => {
    expect(refusal(() => renderDetailDisplays([{ type: 't', note: 'a\u202Eb' }], { t: {} })).error).toBe(
      'invalid_authorization_details',
    );
    expect(refusal(() => renderDetailDisplays([{ type: 't', 'a\u202Eb': 'x' }], { t: {} })).description).toMatch(
      /the label of display field 1/,
    );
  });

  it('lists at most 30 generic values and says how many more there are', () => {
    const many = Object.fromEntries(Array.from({ length: 35 }, (_, i) => [`m${i}`, i]));
    const [display] = renderDetailDisplays([{ type: 't', ...many }], { t: {} });
    expect(display!.fields).toHaveLength(31);
    expect(display!.fields.at(-1)).toEqual({ label: 'More', value: '5 more values in this request' });
  });

  it('humanizes member and type names', () => {
    expect(humanize('payment_initiation')).toBe('Payment initiation');
    expect(humanize('creditorName')).toBe('Creditor name');
    expect(humanize('IBAN')).toBe('IBAN');
    expect(humanize('https://example.com/pay')).toBe('https://example.com/pay');
  });
});
