/** The page's side of the engine worker: promise-based requests with progress callbacks and stop. */
import type { Reply, Request } from './protocol.ts';

export class Engine {
  private worker: Worker;
  private next = 1;
  private pending = new Map<
    number,
    { resolve: (v: any) => void; reject: (e: Error) => void; progress?: (p: any) => void }
  >();

  constructor() {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    this.worker.onmessage = (ev: MessageEvent<Reply>) => {
      const r = ev.data;
      const p = this.pending.get(r.id);
      if (!p) return;
      if (r.type === 'progress') p.progress?.(r.progress);
      else {
        this.pending.delete(r.id);
        if (r.type === 'ok') p.resolve(r.result);
        else p.reject(new Error(r.message));
      }
    };
    this.worker.onerror = (ev) => {
      const err = new Error(`engine worker failed: ${ev.message || 'could not start'}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
  }

  /** Sends a request; returns its id (for stop) and the result promise. */
  start<T>(req: Request, progress?: (p: any) => void): { id: number; done: Promise<T> } {
    const id = this.next++;
    const done = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, progress });
    });
    const transfer: Transferable[] = [];
    this.worker.postMessage({ id, req }, transfer);
    return { id, done };
  }

  call<T>(req: Request, progress?: (p: any) => void): Promise<T> {
    return this.start<T>(req, progress).done;
  }

  stop(id: number): void {
    this.worker.postMessage({ id: this.next++, req: { type: 'stop', target: id } });
  }
}
