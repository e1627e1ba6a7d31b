import { Returns } from '../common/openapi.js';
import { z } from 'zod';
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Patch,
  Post,
  Req,
  Res,
  Inject,
} from '@nestjs/common';
import { ApiBody, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ZodQuery, openApiSchema, ZodPipe, type Parsed } from '../common/validation.js';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';
import { readCookie } from './auth.guard.js';
import { AuthService, SESSION_COOKIE } from './auth.service.js';
import { ApiTokenInfo, LoginResponse, NewApiToken, User } from './auth.types.js';
import {
  CreateApiTokenRequest,
  CreateUserRequest,
  ListTokensQuery,
  LoginRequest,
  UpdateUserRequest,
} from './auth.dto.js';
import { actorOf, ApiScope, CurrentUser, MinRole, Public, UserPrincipal } from './principal.js';

@ApiTags('auth')
@Controller('api/v1/auth')
export class AuthController {
  constructor(
    @Inject(AuthService) private readonly auth: AuthService,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
  ) {}

  /** Sets the httpOnly session cookie the dashboard uses. */
  @Post('login')
  @Public()
  @HttpCode(200)
  @ApiBody({ schema: openApiSchema(LoginRequest) })
  @Returns(LoginResponse)
  async login(
    @Body(new ZodPipe(LoginRequest)) body: Parsed<LoginRequest>,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<LoginResponse> {
    const { sessionToken, expiresAt, user } = await this.auth.login(body.email, body.password);
    const secure = this.config.publicUrl.startsWith('https:') ? '; Secure' : '';
    const maxAge = Math.floor((expiresAt.getTime() - Date.now()) / 1000);
    reply.header(
      'set-cookie',
      `${SESSION_COOKIE}=${sessionToken}; HttpOnly; SameSite=Lax; Path=/; Max-Age=${maxAge}${secure}`,
    );
    return { user, expiresAt: expiresAt.toISOString() };
  }

  @Post('logout')
  @Public()
  @HttpCode(204)
  async logout(@Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<void> {
    const cookie = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (cookie) await this.auth.logout(cookie);
    reply.header('set-cookie', `${SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0`);
  }

  @Get('me')
  @Returns(UserPrincipal)
  me(@CurrentUser() who: UserPrincipal): UserPrincipal {
    return who;
  }
}

@ApiTags('users')
@ApiScope('users')
@Controller('api/v1/users')
export class UsersController {
  constructor(@Inject(AuthService) private readonly auth: AuthService) {}

  @Get()
  @MinRole('admin')
  @Returns(z.array(User))
  list(): Promise<User[]> {
    return this.auth.listUsers();
  }

  @Post()
  @MinRole('admin')
  @ApiBody({ schema: openApiSchema(CreateUserRequest) })
  @Returns(User, 201)
  create(
    @Body(new ZodPipe(CreateUserRequest)) body: Parsed<CreateUserRequest>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<User> {
    return this.auth.createUser(body, actorOf(who));
  }

  @Get(':id')
  @MinRole('admin')
  @Returns(User)
  get(@Param('id') id: string): Promise<User> {
    return this.auth.getUser(id);
  }

  @Patch(':id')
  @MinRole('admin')
  @ApiBody({ schema: openApiSchema(UpdateUserRequest) })
  @Returns(User)
  update(
    @Param('id') id: string,
    @Body(new ZodPipe(UpdateUserRequest)) body: Parsed<UpdateUserRequest>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<User> {
    return this.auth.updateUser(id, body, actorOf(who));
  }
}

@ApiTags('tokens')
@ApiScope('users')
@Controller('api/v1/tokens')
export class TokensController {
  constructor(@Inject(AuthService) private readonly auth: AuthService) {}

  /** The token itself is in the answer only; it is stored hashed. */
  @Post()
  @ApiBody({ schema: openApiSchema(CreateApiTokenRequest) })
  @Returns(NewApiToken, 201)
  async create(
    @Body(new ZodPipe(CreateApiTokenRequest)) body: Parsed<CreateApiTokenRequest>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<NewApiToken> {
    const { token, info } = await this.auth.createApiToken(who, body, actorOf(who));
    return { ...info, token };
  }

  @Get()
  @Returns(z.array(ApiTokenInfo))
  list(
    @ZodQuery(ListTokensQuery) q: Parsed<ListTokensQuery>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<ApiTokenInfo[]> {
    return this.auth.listApiTokens(who, q.all === 'true');
  }

  @Delete(':id')
  @HttpCode(204)
  revoke(@Param('id') id: string, @CurrentUser() who: UserPrincipal): Promise<void> {
    return this.auth.revokeApiToken(who, id, actorOf(who));
  }
}
