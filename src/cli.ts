/**
 * `porchlight <command>`: the one table of commands, their options and the one usage text. Pure:
 * it parses argv into a command and its values; src/main.ts runs it. A wrong command or flag is
 * a usage error (exit 2) with the usage.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec {
  /** The words that name it: ['skill', 'setup']. */
  words: string[];
  synopsis: string;
  summary: string;
  /** Its options; undefined: the command parses its own (older commands with their own --help). */
  options?: Options;
}

const CONFIG: Options = { config: { type: 'string', short: 'c' } };

const SKILL_AMAZON: Options = {
  'lwa-client-id': { type: 'string' },
  'lwa-client-secret': { type: 'string' },
  'callback-port': { type: 'string' },
};

export const COMMANDS: CommandSpec[] = [
  { words: ['serve'], synopsis: 'porchlight [serve] [--config FILE]', summary: 'run the bridge (the embedded demo camera when no config is given)', options: CONFIG },
  { words: ['check-config'], synopsis: 'porchlight check-config [--config FILE]', summary: 'validate a configuration and exit', options: CONFIG },
  {
    words: ['skill', 'setup'],
    synopsis: 'porchlight skill setup --region REGION [--lwa-client-id ID --lwa-client-secret S] [--function-name porchlight-skill]\n      [--bridge-url https://… [--allow-insecure-bridge]] [--callback-port 9090] [--config FILE]',
    summary: 'make your private Alexa skill, its Lambda and account linking (README "Alexa in one command")',
    options: {
      ...CONFIG, ...SKILL_AMAZON,
      region: { type: 'string' },
      'function-name': { type: 'string' },
      'bridge-url': { type: 'string' },
      'allow-insecure-bridge': { type: 'boolean' },
    },
  },
  { words: ['skill', 'status'], synopsis: 'porchlight skill status [--json] [--config FILE]', summary: 'check every step from the skill to this bridge; each ✘ says its fix', options: { ...CONFIG, json: { type: 'boolean' } } },
  { words: ['skill', 'remove'], synopsis: 'porchlight skill remove [--yes] [--config FILE]', summary: 'delete what skill setup made (skill, function, role, relay certificates)', options: { ...CONFIG, yes: { type: 'boolean' } } },
  {
    words: ['cameras', 'discover'],
    synopsis: 'porchlight cameras discover [--json] [--seconds 3] [--config FILE]',
    summary: 'find ONVIF cameras on the LAN (WS-Discovery from every interface) and say which are configured',
    options: { ...CONFIG, json: { type: 'boolean' }, seconds: { type: 'string' } },
  },
  {
    words: ['cameras', 'inspect'],
    synopsis: 'porchlight cameras inspect --onvif http://IP[:port] --user USER --password-file FILE [--rtsp-host IP[:port]] [--json]',
    summary: 'what a camera will be on an Echo: its streams, the one chosen (checked with DESCRIBE), audio, talkback, events (--rtsp-host: common RTSP paths, for a camera without ONVIF)',
    options: { json: { type: 'boolean' }, onvif: { type: 'string' }, user: { type: 'string' }, 'password-file': { type: 'string' }, 'rtsp-host': { type: 'string' } },
  },
  {
    words: ['cameras', 'add'],
    synopsis: 'porchlight cameras add --id ID --name NAME [--kind camera|doorbell] (--url rtsp://… | --onvif http://IP --user U --password-file F)\n      [--talkback onvif|none] [--config FILE] [--json]',
    summary: 'add (or replace) a camera in the configuration file; a running bridge applies it on its own',
    options: {
      ...CONFIG, json: { type: 'boolean' }, id: { type: 'string' }, name: { type: 'string' }, kind: { type: 'string' }, url: { type: 'string' },
      onvif: { type: 'string' }, user: { type: 'string' }, 'password-file': { type: 'string' }, talkback: { type: 'string' },
    },
  },
  { words: ['relay', 'setup'], synopsis: 'porchlight relay setup --region REGION [--bridge-id home] [--lambda FUNCTION] [--config FILE]', summary: 'make the relay through your AWS IoT Core alone (no inbound port)' },
  { words: ['discovery-session'], synopsis: 'porchlight discovery-session --unit UNIT --skill-id ID [--stage LIVE|DEVELOPMENT] [--api-url URL]', summary: 'ask Alexa Smart Properties to discover the skill\'s cameras in a unit' },
  { words: ['simulate'], synopsis: 'porchlight simulate --skill-id ID [--api v1|v2] "<utterance>"', summary: 'say an utterance to the skill (Skill Simulation API; npm run simulate)' },
];

export const USAGE = `usage:
${COMMANDS.map((c) => `  ${c.synopsis}\n      ${c.summary}`).join('\n')}
  porchlight <command> --help   that command's options
The config file may also come from PORCHLIGHT_CONFIG.`;

export type ParsedCommand =
  | { command: string; values: Record<string, string | boolean | undefined>; positionals: string[]; rest?: undefined }
  /** A command that parses its own options: argv after its words. */
  | { command: string; rest: string[]; values?: undefined; positionals?: undefined }
  | { help: true; command?: string }
  | { error: string };

export function commandName(spec: CommandSpec): string {
  return spec.words.join(' ');
}

export function parseCommand(argv: string[]): ParsedCommand {
  if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) return { help: true };
  const words = argv.filter((a) => !a.startsWith('-'));
  // Longest match first: `skill setup` before `skill`.
  const spec = [...COMMANDS].sort((a, b) => b.words.length - a.words.length)
    .find((c) => c.words.every((word, i) => argv[i] === word))
    ?? (argv.length === 0 || argv[0]!.startsWith('-') ? COMMANDS[0] : undefined);
  if (!spec) {
    const known = COMMANDS.filter((c) => c.words[0] === words[0]).map(commandName);
    return { error: known.length > 0 ? `"${words.slice(0, 2).join(' ')}" is not a command: did you mean ${known.join(' or ')}?` : `unknown command "${words[0]}"` };
  }
  const rest = argv[0] === spec.words[0] ? argv.slice(spec.words.length) : argv;
  if (!spec.options) return { command: commandName(spec), rest };
  let parsed;
  try {
    parsed = parseArgs({ args: rest, allowPositionals: true, strict: true, options: { ...spec.options, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    return { error: `${commandName(spec)}: ${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')}` };
  }
  if (parsed.values.help) return { help: true, command: commandName(spec) };
  if (parsed.positionals.length > 0) return { error: `${commandName(spec)}: unexpected argument "${parsed.positionals[0]}"` };
  return { command: commandName(spec), values: { ...parsed.values } as Record<string, string | boolean | undefined>, positionals: parsed.positionals };
}

/** The usage of one command, for its --help. */
export function commandUsage(name: string): string {
  const spec = COMMANDS.find((c) => commandName(c) === name);
  return spec ? `usage: ${spec.synopsis}\n${spec.summary}` : USAGE;
}
