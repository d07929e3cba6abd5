import type { CameraDirectory, CameraEndpoint } from '../alexa/ports.ts';
import type { CameraConfig } from '../config/schema.ts';

/** The configured cameras as Alexa endpoints: what Discover lists and directives may address. */
export class ConfiguredCameras implements CameraDirectory {
  #cameras: Map<string, CameraConfig>;
  readonly #fullDuplex: (cameraId: string) => boolean;
  readonly #motion: (cameraId: string) => boolean;

  constructor(cameras: CameraConfig[], fullDuplex: (cameraId: string) => boolean, motion: (cameraId: string) => boolean) {
    this.#cameras = new Map(cameras.map((camera) => [camera.id, camera]));
    this.#fullDuplex = fullDuplex;
    this.#motion = motion;
  }

  /** The configuration changed while running (added, edited, removed cameras). */
  replace(cameras: CameraConfig[]): void {
    this.#cameras = new Map(cameras.map((camera) => [camera.id, camera]));
  }

  has(id: string): boolean {
    return this.#cameras.has(id);
  }

  get(id: string): CameraConfig | undefined {
    return this.#cameras.get(id);
  }

  list(): CameraEndpoint[] {
    return [...this.#cameras.values()].map((camera) => ({
      id: camera.id,
      name: camera.name,
      kind: camera.kind,
      fullDuplexAudio: this.#fullDuplex(camera.id),
      motionSensor: this.#motion(camera.id),
      ...(camera.manufacturer && { manufacturer: camera.manufacturer }),
      ...(camera.model && { model: camera.model }),
    }));
  }
}
