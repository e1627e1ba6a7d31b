import { pageOf, Returns } from '../common/openapi.js';
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Res, Inject } from '@nestjs/common';
import { ApiBody, ApiTags } from '@nestjs/swagger';
import { ReleaseManifest } from '@fleet/protocol';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { actorOf, ApiScope, CurrentUser, MinRole, type UserPrincipal } from '../auth/principal.js';
import { ZodQuery, openApiSchema, QueryBool, ZodPipe, type Page, type Parsed } from '../common/validation.js';
import { CreateKeyRequest, ListReleasesQuery, YankRequest } from './release.dto.js';
import { ReleasesService } from './release.service.js';
import { Release, ReleaseSummary, SigningKeyRecord } from './release.types.js';

const ListKeysQuery = z.strictObject({ includeRevoked: QueryBool.default(false) });
type ListKeysQuery = z.infer<typeof ListKeysQuery>;

@ApiTags('releases')
@ApiScope('releases')
@Controller('api/v1/releases')
export class ReleaseController {
  constructor(@Inject(ReleasesService) private readonly releases: ReleasesService) {}

  /** Body: the signed release manifest (protocol ReleaseManifest). 201 created, 200 identical re-upload. */
  @Post()
  @MinRole('operator')
  @ApiBody({ schema: openApiSchema(ReleaseManifest) })
  @Returns(Release, 201)
  @Returns(Release, 200)
  async create(
    @Body() body: unknown,
    @CurrentUser() who: UserPrincipal,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Release> {
    const { release, created } = await this.releases.create(body, actorOf(who));
    reply.code(created ? 201 : 200);
    return release;
  }

  @Get()
  @Returns(pageOf(ReleaseSummary))
  list(@ZodQuery(ListReleasesQuery) q: Parsed<ListReleasesQuery>): Promise<Page<ReleaseSummary>> {
    return this.releases.list(q);
  }

  /** By id or version. */
  @Get(':release')
  @Returns(Release)
  get(@Param('release') release: string): Promise<Release> {
    return this.releases.get(release);
  }

  @Post(':release/yank')
  @MinRole('operator')
  @HttpCode(200)
  @ApiBody({ schema: openApiSchema(YankRequest) })
  @Returns(Release)
  yank(
    @Param('release') release: string,
    @Body(new ZodPipe(YankRequest)) body: Parsed<YankRequest>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<Release> {
    return this.releases.yank(release, body.reason, actorOf(who));
  }
}

@ApiTags('keys')
@ApiScope('keys')
@Controller('api/v1/keys')
export class KeyController {
  constructor(@Inject(ReleasesService) private readonly releases: ReleasesService) {}

  /** Registers an organisation release-signing public key (the private key never reaches the hub). */
  @Post()
  @MinRole('admin')
  @ApiBody({ schema: openApiSchema(CreateKeyRequest) })
  @Returns(SigningKeyRecord, 201)
  create(
    @Body(new ZodPipe(CreateKeyRequest)) body: Parsed<CreateKeyRequest>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<SigningKeyRecord> {
    return this.releases.createKey(body, actorOf(who));
  }

  @Get()
  @Returns(z.array(SigningKeyRecord))
  list(@ZodQuery(ListKeysQuery) q: Parsed<ListKeysQuery>): Promise<SigningKeyRecord[]> {
    return this.releases.listKeys(q.includeRevoked);
  }

  @Delete(':keyId')
  @MinRole('admin')
  @HttpCode(204)
  revoke(@Param('keyId') keyId: string, @CurrentUser() who: UserPrincipal): Promise<void> {
    return this.releases.revokeKey(keyId, actorOf(who));
  }
}
