// Runs discoverOnvifDevices() with the options in argv[2] (JSON) and prints the result as JSON:
// the discovery tests start it inside a network namespace (ip netns exec NS node discover-runner.ts …).
import { discoverOnvifDevices, type DiscoverOptions } from '../../src/onboarding/discovery.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as DiscoverOptions;
process.stdout.write(`${JSON.stringify(await discoverOnvifDevices(options))}\n`);
