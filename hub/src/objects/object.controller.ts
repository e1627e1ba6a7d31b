import { Controller, Get, Head, HttpException, Param, Put, Req, Res, Inject } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import {
  actorOf,
  AllowDevice,
  ApiScope,
  CurrentPrincipal,
  MinRole,
  type Principal,
} from '../auth/principal.js';
import { Returns } from '../common/openapi.js';
import { ZodPipe } from '../common/validation.js';
import { parseRange } from './byte-range.js';
import { ObjectsService } from './object.service.js';

const PutObjectResult = z.object({ digest: z.string(), size: z.number().int(), created: z.boolean() });
const BINARY = { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } };

const Hex = z
  .string()
  .regex(/^[0-9a-f]{64}$/, { error: 'must be 64 lower-case hex digits (the sha256 of the content)' });

@ApiTags('objects')
@ApiScope('objects')
@Controller('api/v1/objects/sha256')
export class ObjectController {
  constructor(@Inject(ObjectsService) private readonly objects: ObjectsService) {}

  @Head(':hex')
  @AllowDevice()
  async head(
    @Param('hex', new ZodPipe(Hex, 'path parameter hex')) hex: string,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const h = await this.objects.head(hex);
    if (!h) {
      await reply.code(404).send();
      return;
    }
    await reply
      .code(200)
      .headers({
        'content-length': String(h.size),
        etag: h.etag,
        'accept-ranges': 'bytes',
        'content-type': h.mediaType ?? 'application/octet-stream',
      })
      .send();
  }

  /** Range (single) and ETag/If-None-Match/If-Range supported; devices authenticate with HTTP Basic. */
  @Get(':hex')
  @AllowDevice()
  @ApiResponse({ status: 200, description: 'the object', content: BINARY })
  @ApiResponse({ status: 206, description: 'the requested byte range', content: BINARY })
  @ApiResponse({ status: 304, description: 'not modified (If-None-Match)' })
  @ApiResponse({ status: 416, description: 'range not satisfiable' })
  async get(
    @Param('hex', new ZodPipe(Hex, 'path parameter hex')) hex: string,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const h = await this.objects.require(hex);
    const common = {
      etag: h.etag,
      'accept-ranges': 'bytes',
      'content-type': h.mediaType ?? 'application/octet-stream',
      'cache-control': 'public, max-age=31536000, immutable',
    };
    const inm = req.headers['if-none-match'];
    if (
      inm &&
      inm
        .split(',')
        .map((s) => s.trim())
        .includes(h.etag)
    ) {
      await reply.code(304).headers(common).send();
      return;
    }
    const ifRange = req.headers['if-range'];
    const rangeHeader = ifRange && ifRange !== h.etag ? undefined : req.headers.range;
    const range = parseRange(rangeHeader, h.size);
    if (range === 'unsatisfiable') {
      await reply
        .code(416)
        .headers({ ...common, 'content-range': `bytes */${h.size}` })
        .send();
      return;
    }
    if (range) {
      this.objects.countServed(range.end - range.start + 1);
      await reply
        .code(206)
        .headers({
          ...common,
          'content-range': `bytes ${range.start}-${range.end}/${h.size}`,
          'content-length': String(range.end - range.start + 1),
        })
        .send(this.objects.read(hex, range));
      return;
    }
    this.objects.countServed(h.size);
    await reply
      .code(200)
      .headers({ ...common, 'content-length': String(h.size) })
      .send(this.objects.read(hex, undefined));
  }

  /** Body: the raw bytes (`Content-Type: application/octet-stream`), verified against the digest. */
  @Put(':hex')
  @MinRole('operator')
  @ApiConsumes('application/octet-stream')
  @ApiBody({ required: true, schema: { type: 'string', format: 'binary' } })
  @Returns(PutObjectResult, 201)
  @Returns(PutObjectResult, 200)
  async put(
    @Param('hex', new ZodPipe(Hex, 'path parameter hex')) hex: string,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
    @CurrentPrincipal() who: Principal,
  ): Promise<void> {
    const body = req.body as Readable | undefined;
    if (!body || typeof (body as Readable).pipe !== 'function') {
      throw new HttpException(
        {
          statusCode: 415,
          error: 'Unsupported Media Type',
          message: 'send the object as Content-Type: application/octet-stream',
        },
        415,
      );
    }
    const len =
      req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) : undefined;
    const ac = new AbortController();
    req.raw.once('aborted', () => ac.abort());
    const r = await this.objects.put(
      hex,
      body,
      Number.isFinite(len) ? len : undefined,
      null,
      actorOf(who),
      ac.signal,
    );
    await reply
      .code(r.created ? 201 : 200)
      .header('etag', `"${r.digest}"`)
      .send(r);
  }
}
